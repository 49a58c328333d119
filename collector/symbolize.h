// Offline symbolization after ingest (elfutils libdwfl): each distinct frame's function (demangled),
// file and line, with the chain of inlined functions, written to `symbols`. Modules that are missing,
// replaced (build-id differs) or without debug info keep module + offset and never fail the run.
#pragma once

#include "collector/ingest.h"
#include "trace/result.h"
#include "trace/sqlite.h"

#include <cstdint>

namespace tidemark::collector {

struct SymbolizeReport {
    uint64_t frames = 0; // frames with a module
    uint64_t resolved = 0; // frames that got at least a function name
    uint64_t with_line = 0; // ... and a file and line
    uint64_t module_files = 0; // distinct module files opened
    uint64_t missing_modules = 0; // module file absent or unreadable
    uint64_t build_id_mismatch = 0;
};

Result<SymbolizeReport> symbolize(trace::Db& db, const Progress& progress = {});

} // namespace tidemark::collector
