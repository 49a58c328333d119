// `tidemark version`: prints the version and the recording schema version this build reads.
#include "cli/command.h"
#include "trace/recording.h"

#include <cstdio>

namespace {
const char* const kHelp = "usage: tidemark version\n\nPrints tidemark's version and the newest recording schema it reads.\n\noptions:\n  -h, --help   show this help\n";

int run(const std::vector<std::string>& args)
{
    if (tidemark::cli::wantsHelp(args)) {
        std::fputs(kHelp, stdout);
        return 0;
    }
    std::printf("tidemark %s (recording schema %d)\n", TIDEMARK_VERSION, tidemark::trace::currentSchemaVersion());
    return 0;
}
tidemark::cli::Registration reg({ "version", "print the version and the recording schema version", run, 900, kHelp });
} // namespace
