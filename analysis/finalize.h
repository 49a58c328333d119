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

struct FinalizeOptions {
    // The secondary indexes of trace/schema/indexes.sql. When false they are built only if a series
    // has to be built from the rows; `record` leaves them to the first Recording::open otherwise, so
    // it returns as soon as the rows are in.
    bool indexes = true;
};

// Builds what is missing: the indexes (unless told not to) and the series of every space that has
// none yet, with the parameters already in meta when there are some.
Status finalizeRecording(trace::Db& db, const Progress& progress = {}, const FinalizeOptions& options = {});

} // namespace tidemark::analysis
