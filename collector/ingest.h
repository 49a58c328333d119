// The collector's entry point: turns the spool directory of one `tidemark record` run into the
// tables of a recording (processes, threads, modules, stacks, allocation lifetimes, NVTX ranges,
// pools, GPU activity, capture counters). Symbolization is a separate step (symbolize.h).
#pragma once

#include "trace/result.h"
#include "trace/sqlite.h"

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace tidemark::collector {

struct IngestOptions {
    std::string host; // processes.host
    std::optional<int64_t> rank; // processes.rank (from the launcher's variables)
    bool drop_capture_frames = true; // drop frames inside libtidemark.so from stacks
};

// Totals over all spool files; per-process counters go to capture_stats (source 'collector').
struct IngestReport {
    uint64_t files = 0;
    uint64_t bad_files = 0; // not a spool file or a newer spool version: skipped, named in capture_stats
    uint64_t processes = 0;
    uint64_t records = 0;
    uint64_t bad_records = 0;
    uint64_t truncated_bytes = 0;
    uint64_t allocations = 0;
    uint64_t allocation_bytes = 0;
    uint64_t still_live = 0;
    uint64_t unmatched_frees = 0;
    uint64_t failed_allocations = 0;
    bool cut_short = false; // some image ended mid-chunk or without its exit record
    std::string cut_short_detail;
    int64_t root_process_id = 0; // the first image of the traced program, 0 when nothing was captured
};

// progress(stage, fraction 0..1); may be empty.
using Progress = std::function<void(std::string_view stage, double fraction)>;

// Reads every *.tmspool file in spoolDir into db (a freshly created recording).
Result<IngestReport> ingest(
    const std::string& spoolDir, trace::Db& db, const IngestOptions& options = {}, const Progress& progress = {});

} // namespace tidemark::collector
