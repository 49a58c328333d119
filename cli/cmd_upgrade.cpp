// `tidemark upgrade`: brings a recording written with an older schema to this tidemark's, in place
// and all at once (the migrations run on a copy that replaces the file only when they all
// succeeded). Readers never migrate a file on their own: a user's recording changes only when asked.
#include "cli/command.h"
#include "trace/recording.h"

#include <cstdio>

namespace {

using namespace tidemark;

constexpr const char* kHelp = R"(usage: tidemark upgrade FILE...

Brings each recording FILE written by an older tidemark to the schema this one reads, in place.
report, check, diff, export and gui refuse an older recording (with a hint naming this command)
rather than change a user's file unasked. The migrations run on a copy beside FILE, which
replaces it only when every one succeeded: an interrupted or failed upgrade leaves FILE as it
was. A recording already at the current version is left untouched.

options:
  -h, --help     show this help

exit codes: 0 every FILE is at the current version, 2 usage error, or a FILE that is not a
recording, is damaged, is newer than this tidemark or could not be rewritten
)";

int run(const std::vector<std::string>& args)
{
    if (cli::wantsHelp(args)) {
        std::fputs(kHelp, stdout);
        return 0;
    }
    std::vector<std::string> files;
    for (const std::string& a : args) {
        if (!a.empty() && a[0] == '-')
            return cli::fail("unknown option '" + a + "'", "see 'tidemark upgrade --help'");
        files.push_back(a);
    }
    if (files.empty())
        return cli::fail("no recording given", "usage: tidemark upgrade FILE...");
    int status = cli::kExitOk;
    for (const std::string& file : files) {
        auto from = trace::upgradeRecording(file);
        if (!from) {
            status = cli::fail(from.error());
            continue;
        }
        const int to = trace::currentSchemaVersion();
        if (*from == to)
            std::printf("%s: already at schema version %d\n", file.c_str(), to);
        else
            std::printf("%s: upgraded from schema version %d to %d\n", file.c_str(), *from, to);
    }
    return std::fflush(stdout) == 0 ? status : cli::fail("cannot write to standard output");
}

tidemark::cli::Registration reg({ "upgrade", "bring a recording of an older tidemark to this one's schema", run, 85, kHelp });

} // namespace
