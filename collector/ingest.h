// The collector's entry point: turns the spool directory of one `tidemark record` run into the
// tables of a recording (processes, threads, modules, stacks, allocation lifetimes, NVTX ranges,
// pools, GPU activity, capture counters). Symbolization is a separate step (symbolize.h).
#pragma once

#include "trace/result.h"
#include "trace/sqlite.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace tidemark::collector {

struct IngestOptions {
    std::string host; // processes.host
    std::optional<int64_t> rank; // processes.rank (from the launcher's variables)
    bool drop_capture_frames = true; // drop frames inside libtidemark.so from stacks
    // Symbolize the frames as part of the ingest, while the writer still stores allocation rows
    // (otherwise symbolize() does it afterwards).
    bool symbolize = false;
    // How far behind the newest record the live merge stays (LiveIngest::poll): 10 drain periods
    // of the capture library (TIDEMARK_FLUSH_MS, 5 ms by default), at least 50 ms.
    uint64_t live_lag_ns = liveLagFor(5);
    static constexpr uint64_t liveLagFor(uint64_t flushMs)
    {
        return (flushMs * 10 > 50 ? flushMs * 10 : 50) * 1'000'000;
    }
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
    // Frees in a forked child of blocks its parent allocated before the fork and had not freed: the
    // child's copy of the parent's heap, not counted as unmatched.
    uint64_t inherited_frees = 0;
    uint64_t failed_allocations = 0;
    bool cut_short = false; // some image ended mid-chunk or without its exit record
    std::string cut_short_detail;
    int64_t root_process_id = 0; // the first image of the traced program, 0 when nothing was captured
    uint64_t frames_symbolized = 0; // with IngestOptions::symbolize: frames that got a function name
};

// progress(stage, fraction 0..1); may be empty.
using Progress = std::function<void(std::string_view stage, double fraction)>;

// Reads every *.tmspool file in spoolDir into db (a freshly created recording).
Result<IngestReport> ingest(
    const std::string& spoolDir, trace::Db& db, const IngestOptions& options = {}, const Progress& progress = {});

// The same, started while the traced program still runs: poll() takes what the spool files hold so
// far (the records pass 2 pairs stay well behind the newest, see IngestOptions::live_lag_ns), so
// most of the work is done by the time the program exits; finish() does the rest. One thread at a
// time may call them; the connection is theirs until finish() returns.
class LiveIngest {
public:
    LiveIngest(std::string spoolDir, trace::Db& db, IngestOptions options);
    ~LiveIngest();
    LiveIngest(const LiveIngest&) = delete;
    LiveIngest& operator=(const LiveIngest&) = delete;

    Status begin();
    // Errors here are not final (a file may be half-created); finish() reports what remains. Pairs
    // at most `limit` records per file, so a caller can stop soon when the program ends; returns
    // how many it paired (0: nothing ready, wait a little).
    uint64_t poll(uint64_t limit = UINT64_MAX);
    // After the program (and every process it started) is gone.
    Result<IngestReport> finish(const Progress& progress = {});

    struct State; // private

private:
    std::unique_ptr<State> m_state;
};

} // namespace tidemark::collector
