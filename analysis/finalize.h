// Finalizing a recording after it was loaded (by the collector or an importer): indexes and the
// precomputed level-of-detail series that make any timeline window one cheap query.
#pragma once

#include "trace/result.h"
#include "trace/sqlite.h"

#include <functional>
#include <string_view>

namespace tidemark::analysis {

// progress(stage, fraction 0..1); may be empty.
using Progress = std::function<void(std::string_view stage, double fraction)>;

Status finalizeRecording(trace::Db& db, const Progress& progress = {});

} // namespace tidemark::analysis
