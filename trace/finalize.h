// Finalizing a recording after it was loaded, on the write side (`record` after the collector, and
// every importer): indexes and the precomputed level-of-detail series that make any timeline window
// one cheap query. Readers (analysis) never call it: opening a recording does not write to it.
#pragma once

#include "trace/result.h"
#include "trace/sqlite.h"

#include <functional>
#include <string_view>

namespace tidemark::trace {

// progress(stage, fraction 0..1); may be empty.
using Progress = std::function<void(std::string_view stage, double fraction)>;

struct FinalizeOptions {
    // The secondary indexes of trace/schema/indexes.sql. Always: import and tests. WhenUseful
    // (`record`): only where they pay, so record returns as soon as the rows are in: when a series had
    // to be built from the rows, when the recording is small, or when some space is a small part of
    // a large table (a space that is most of the table is read in one pass without them). Readers
    // never add them: opening a recording does not write to it.
    enum class Indexes { Always, WhenUseful };
    Indexes indexes = Indexes::Always;
};

// Builds what is missing: the indexes (unless told not to) and the series of every space that has
// none yet, with the parameters already in meta when there are some.
Status finalizeRecording(Db& db, const Progress& progress = {}, const FinalizeOptions& options = {});

} // namespace tidemark::trace
