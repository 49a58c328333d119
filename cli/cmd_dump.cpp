// `tidemark dump`: prints a recording as stable, sorted text (a debugging aid and the oracle of
// golden tests): every table, or the one named with --table.
#include "cli/command.h"
#include "collector/dump.h"
#include "trace/recording.h"

#include <cstdio>

namespace {

using namespace tidemark;

constexpr const char* kHelp = R"(usage: tidemark dump FILE [--table NAME]

Prints the recording FILE as text: for each table a line '== name (N rows)', a tab-separated
header, then the rows sorted by all columns (NULL for missing values). Two recordings of the
same events print the same, so the output can be diffed or used as a test's expected output.

options:
  --table NAME   print only this table (or view, e.g. pool_regions)
  -h, --help     show this help

exit codes: 0 ok, 2 usage error or unreadable recording
)";

int run(const std::vector<std::string>& args)
{
    if (cli::wantsHelp(args)) {
        std::fputs(kHelp, stdout);
        return 0;
    }
    std::string file, table;
    for (size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (a == "--table" || a == "-t") {
            if (i + 1 >= args.size())
                return cli::fail("option --table needs a table name", "see 'tidemark dump --help'");
            table = args[++i];
        } else if (a.rfind("--table=", 0) == 0) {
            table = a.substr(8);
        } else if (!a.empty() && a[0] == '-' && a != "-") {
            return cli::fail("unknown option '" + a + "'", "see 'tidemark dump --help'");
        } else if (file.empty()) {
            file = a;
        } else {
            return cli::fail("dump takes one recording, got '" + file + "' and '" + a + "'");
        }
    }
    if (file.empty())
        return cli::fail("no recording given", "usage: tidemark dump FILE [--table NAME]");
    auto db = trace::openRecording(file);
    if (!db)
        return cli::fail(db.error());
    if (auto s = collector::dumpRecording(*db, table, stdout); !s) {
        std::fflush(stdout);
        return cli::fail(s.error());
    }
    return std::fflush(stdout) == 0 ? cli::kExitOk : cli::fail("cannot write the dump to standard output");
}

tidemark::cli::Registration reg({ "dump", "print a recording as stable text (debugging, golden tests)", run, 80, kHelp });

} // namespace
