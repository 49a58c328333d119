// Subcommand registry of the `tidemark` CLI. Each subcommand lives in its own cmd_<name>.cpp and
// registers itself with a static Registration, so adding one never touches a shared dispatcher.
#pragma once

#include "trace/result.h"

#include <string>
#include <vector>

namespace tidemark::cli {

// Documented exit codes (docs/cli.md).
constexpr int kExitOk = 0;
constexpr int kExitCheckFailed = 1;
constexpr int kExitUsage = 2; // usage error or unreadable input

struct Command {
    const char* name;
    const char* summary; // one line for `tidemark --help`
    int (*run)(const std::vector<std::string>& args); // args exclude "tidemark" and the command name
    int order;                                        // position in `tidemark --help`
};

struct Registration {
    explicit Registration(const Command& command);
};

const std::vector<Command>& commands();

// Prints "tidemark: error: <message>" and, when present, "hint: <hint>" to stderr; returns kExitUsage.
int fail(const Error& error);
int fail(const std::string& message, const std::string& hint = {});

// True when args contains -h or --help (before a "--").
bool wantsHelp(const std::vector<std::string>& args);

} // namespace tidemark::cli
