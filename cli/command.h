// Subcommand registry of the `tidemark` CLI. Each subcommand lives in its own cmd_<name>.cpp and
// registers itself with a static Registration, so adding one never touches a shared dispatcher.
#pragma once

#include "trace/result.h"

#include <cstdio>
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
    // The whole `--help` text: "usage: ..." lines, paragraphs, then sections such as "options:" whose
    // items are indented two spaces. The man pages and the shell completion are made from it
    // (cli/support_manual.cpp), so what --help says and what they say cannot drift apart.
    const char* help = nullptr;
};

struct Registration {
    explicit Registration(const Command& command);
};

const std::vector<Command>& commands();
const Command* findCommand(const std::string& name);

// `tidemark --help`: usage, kOverview, the command list and kExitCodes.
extern const char* const kOverview;
extern const char* const kExitCodes;
void printUsage(FILE* out);

// Prints "tidemark: error: <message>" and, when present, "hint: <hint>" to stderr; returns kExitUsage.
int fail(const Error& error);
int fail(const std::string& message, const std::string& hint = {});

// record and import never replace an existing file (or symlink) without --force: when path is taken,
// prints the error naming the command and returns true.
bool outputTaken(const std::string& path, const char* command);

// True when args contains -h or --help (before a "--").
bool wantsHelp(const std::vector<std::string>& args);

} // namespace tidemark::cli
