// Helpers of `tidemark record`: locating the capture library, naming the output, and starting,
// signalling and waiting for the target process.
#pragma once

#include "trace/result.h"

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace tidemark::cli {

// <dir of this executable>/../lib/tidemark/libtidemark.so (the build tree and an install share it).
Result<std::string> findCaptureLibrary();

// The rank of this process from the usual launcher variables (RANK, OMPI_COMM_WORLD_RANK, PMI_RANK,
// SLURM_PROCID), first one set wins.
std::optional<int64_t> launcherRank();
std::string hostName();

// Expands %p (pid), %h (host), %r (rank, 0 when none) and %% in an output file pattern.
std::string expandOutputPattern(const std::string& pattern, int pid, const std::string& host, int64_t rank);

// Joins argv for display, quoting words the shell would split or expand.
std::string shellQuote(const std::vector<std::string>& argv);

using EnvOverrides = std::vector<std::pair<std::string, std::string>>;

// Starts argv[0] (looked up in PATH like a shell) with the environment plus overrides. SIGINT, SIGTERM
// and SIGHUP sent to tidemark are forwarded to it. Error (with errno text) if it could not be executed.
Result<int> startTarget(const std::vector<std::string>& argv, const EnvOverrides& env);

// Waits for the target; returns the raw wait status.
int waitTarget(int pid);

// 0..255 from a wait status: the exit code, or 128 + signal number like a shell.
int shellExitCode(int waitStatus);
// "killed by SIGKILL", "crashed with SIGSEGV", or empty when the target exited.
std::string signalDescription(int waitStatus);

} // namespace tidemark::cli
