// `tidemark import`: turns recordings made by other tools (PyTorch memory snapshots, Kineto / Chrome
// trace JSON, Nsight Systems SQLite exports) into tidemark recordings, so every analysis works on them.
// docs/import.md says what each importer reads, how it maps, and what it cannot know.
#pragma once

#include "trace/result.h"

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace tidemark::import {

enum class Format { Auto, TorchSnapshot, Kineto, Nsys };

std::optional<Format> parseFormat(std::string_view name); // auto | torch-snapshot | kineto | nsys
std::string_view formatName(Format format);

using ImportProgress = std::function<void(std::string_view stage, double fraction)>;

struct ImportOptions {
    Format format = Format::Auto;
    ImportProgress progress; // may be empty
};

struct ImportSummary {
    Format format = Format::Auto;
    int64_t processes = 0;
    int64_t allocations = 0; // allocation rows in all spaces
    int64_t frees = 0;       // rows with a free time
    int64_t kernels = 0;
    int64_t ranges = 0;
    int64_t failedAllocations = 0;
};

// Detects the format from the file's content (never from its name). Errors: Io, Unsupported.
Result<Format> detectFormat(const std::string& path);

// Imports input into a new recording at output (replaced if present) and finalizes it. On error the
// output file is removed. Errors: Io, Corrupt (truncated or damaged input), Unsupported (a refused
// pickle opcode, an unknown layout), Usage (input exceeds a limit).
Result<ImportSummary> importFile(const std::string& input, const std::string& output, const ImportOptions& options = {});

} // namespace tidemark::import
