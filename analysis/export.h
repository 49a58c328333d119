// Exports of a recording for other tools: Chrome trace JSON (Perfetto, chrome://tracing), folded
// stacks for flame-graph tools (flamegraph.pl, speedscope, inferno), and CSV of every allocation.
#pragma once

#include "analysis/recording.h"
#include "analysis/types.h"
#include "trace/result.h"

#include <cstdint>
#include <ostream>
#include <string>

namespace tidemark::analysis {

struct ExportStats {
    int64_t counters = 0; // Chrome "C" events
    int64_t slices = 0; // Chrome "X" events (NVTX ranges, kernels, copies and memsets)
    int64_t instants = 0; // Chrome "i" events (failed allocations)
    int64_t metadata = 0; // Chrome "M" events (process and thread names)
    int64_t lines = 0; // folded stack lines, or CSV rows without the header
    int64_t totalWeight = 0; // folded: sum of the weights written
};

struct ChromeOptions {
    int counterBuckets = 4000; // level-of-detail columns per space for the live-bytes counters
};

// One JSON object {"traceEvents": [...]}; timestamps in microseconds from the start of the recording.
// Live bytes per space as counters from the level-of-detail timeline (pools also show reserved bytes),
// NVTX ranges per thread, kernels and copies per device stream on their own tracks, failed
// allocations as instant events, and process/thread name metadata.
Result<ExportStats> exportChrome(Recording& rec, std::ostream& out, const ChromeOptions& options = {});

// "outer;...;inner weight" lines (outermost frame first), one per distinct stack, weighted by bytes
// live at the space's peak, bytes live at exit (pool-cached memory excluded), or allocation count.
// spaceId 0 = every space.
Result<ExportStats> exportFolded(Recording& rec, std::ostream& out, TreeWeight weight, int64_t spaceId);

// RFC 4180 CSV: a header row, then one row per allocation lifetime (spaceId 0 = every space).
Result<ExportStats> exportCsv(Recording& rec, std::ostream& out, int64_t spaceId);

// Quotes a CSV field when it holds a comma, quote, CR or LF (quotes doubled).
std::string csvField(const std::string& value);

} // namespace tidemark::analysis
