// The subcommand registry and the helpers every command shares (command.h).
#include "cli/command.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>

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
