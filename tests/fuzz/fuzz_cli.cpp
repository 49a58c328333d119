// The command line of the reading commands (report, check, diff, export, summarize, dump, help,
// completion, version): the input is the command and its arguments, one per line. They run in the
// scratch directory, which holds a.tmdb and b.tmdb when TIDEMARK_FUZZ_RECORDING names a recording.
// Arguments holding '/' are dropped, so nothing outside the scratch directory can be named; record,
// import and gui are left out (they start programs or windows).
#include "cli/command.h"
#include "tests/fuzz/fuzz_support.h"

#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <set>
#include <unistd.h>

namespace {

void prepare()
{
    using namespace tidemark;
    if (const char* rec = std::getenv("TIDEMARK_FUZZ_RECORDING")) {
        for (const char* name : { "a.tmdb", "b.tmdb" })
            std::filesystem::copy_file(
                rec, fuzz::scratchDir() + "/" + name, std::filesystem::copy_options::overwrite_existing);
    }
    std::filesystem::current_path(fuzz::scratchDir());
    // What the commands print is not the point; their exit and their errors are.
    int null = open("/dev/null", O_WRONLY);
    if (null >= 0) {
        std::fflush(stdout);
        dup2(null, 1);
        close(null);
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    using namespace tidemark;
    static const bool prepared = (prepare(), true);
    (void)prepared;
    static const std::set<std::string> allowed = {
        "report", "check", "diff", "export", "summarize", "dump", "help", "completion", "version"};
    std::vector<std::string> args;
    std::string_view text = fuzz::asView(data, size);
    while (!text.empty() && args.size() < 64) {
        size_t end = text.find('\n');
        std::string_view arg = text.substr(0, end);
        if (arg.find('/') == std::string_view::npos)
            args.emplace_back(arg);
        text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    }
    if (args.empty() || !allowed.count(args.front()))
        return 0;
    const cli::Command* command = cli::findCommand(args.front());
    if (!command)
        return 0;
    args.erase(args.begin());
    (void)command->run(args);
    std::fflush(stdout);
    return 0;
}
