// Entry point of the `tidemark` CLI: dispatches to the registered subcommands.
#include "cli/command.h"

#include <cstdio>

int main(int argc, char** argv)
{
    if (argc < 2) {
        tidemark::cli::printUsage(stderr);
        return tidemark::cli::kExitUsage;
    }
    std::string name = argv[1];
    if (name == "-h" || name == "--help") {
        tidemark::cli::printUsage(stdout);
        return 0;
    }
    if (name == "--version") {
        std::printf("tidemark %s\n", TIDEMARK_VERSION);
        return 0;
    }
    if (const auto* c = tidemark::cli::findCommand(name))
        return c->run(std::vector<std::string>(argv + 2, argv + argc));
    return tidemark::cli::fail("unknown command '" + name + "'", "run 'tidemark --help' for the list of commands");
}
