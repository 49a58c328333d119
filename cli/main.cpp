// Entry point of the `tidemark` CLI: dispatches to the registered subcommands.
#include "analysis/recording.h"
#include "cli/command.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <unistd.h>

namespace tidemark::cli {

namespace {
std::vector<Command>& registry()
{
    static std::vector<Command> all;
    return all;
}
} // namespace

Registration::Registration(const Command& command) { registry().push_back(command); }

const std::vector<Command>& commands()
{
    auto& all = registry();
    std::sort(all.begin(), all.end(), [](const Command& a, const Command& b) { return a.order < b.order; });
    return all;
}

const Command* findCommand(const std::string& name)
{
    for (const auto& c : commands())
        if (name == c.name)
            return &c;
    return nullptr;
}

const char* const kOverview
    = "tidemark records the host and GPU memory of an unmodified program (usually a training run)\n"
      "into one SQLite file and answers: what made my peak, what leaks or grows, and why did I run\n"
      "out of memory while memory looked free.\n";

const char* const kExitCodes = "Exit codes: 0 ok, 1 a check failed, 2 usage error or unreadable input;\n"
                               "'record' exits with the profiled program's own status.\n";

void printUsage(FILE* out)
{
    std::fprintf(out, "usage: tidemark <command> [options]\n\n%s\ncommands:\n", kOverview);
    for (const auto& c : commands())
        std::fprintf(out, "  %-10s %s\n", c.name, c.summary);
    std::fprintf(out, "\nRun 'tidemark <command> --help' for a command's options.\n%s", kExitCodes);
}

int fail(const Error& error)
{
    std::fprintf(stderr, "tidemark: error: %s\n", error.message.c_str());
    if (!error.hint.empty())
        std::fprintf(stderr, "hint: %s\n", error.hint.c_str());
    return kExitUsage;
}

int fail(const std::string& message, const std::string& hint) { return fail(Error { ErrorCode::Usage, message, hint }); }

bool outputTaken(const std::string& path, const char* command)
{
    std::error_code ec;
    if (!std::filesystem::exists(std::filesystem::symlink_status(path, ec)))
        return false;
    fail(path + " exists; " + command + " does not replace a file", "add --force to replace it, or choose another name with -o");
    return true;
}

bool wantsHelp(const std::vector<std::string>& args)
{
    for (const auto& a : args) {
        if (a == "--")
            return false;
        if (a == "-h" || a == "--help")
            return true;
    }
    return false;
}

} // namespace tidemark::cli

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
    // `record` leaves a recording's indexes to its first reader; say why that open takes longer
    // (on a terminal only, like progress: scripts parse what the commands print).
    if (isatty(2))
        tidemark::analysis::Recording::setIndexingNotice([](const std::string& path) {
            std::fprintf(stderr, "tidemark: indexing %s (first open of a new recording; kept in the file)\n",
                path.c_str());
        });
    if (const auto* c = tidemark::cli::findCommand(name))
        return c->run(std::vector<std::string>(argv + 2, argv + argc));
    return tidemark::cli::fail("unknown command '" + name + "'", "run 'tidemark --help' for the list of commands");
}
