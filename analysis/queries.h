// The analysis queries: every question the CLI, the GUI and the CI gate ask of a recording.
// Each takes an open Recording and returns a Result; none exposes SQL. Costs are noted where a
// query scans the allocations of a space (O(n)) rather than using the level-of-detail series.
#pragma once

#include "analysis/recording.h"
#include "analysis/types.h"
#include "trace/result.h"

#include <string>
#include <vector>

namespace tidemark::analysis {

// Restricts which allocations a breakdown counts (the space is always explicit).
struct Filter {
    std::string phase; // phaseMatches() filter on the allocation's phase path; empty = all
};

// ---- overview -----------------------------------------------------------------------------

// Program, duration, counts, exit status, cut short, per-space totals and peaks.
Result<Summary> summary(Recording& rec);

// What capture saw and did not see (capture_stats), with warnings for dropped or unmatched events.
Result<Coverage> coverage(Recording& rec);

// ---- timeline (level-of-detail series; one cheap query for any window and width) ----------

// pixelWidth columns covering [t0, t1). Uses the coarsest series level finer than a column,
// or exact events when zoomed below the finest level or when the recording has no series.
Result<Timeline> timeline(Recording& rec, int64_t spaceId, TimeNs t0, TimeNs t1, int pixelWidth);

// Exact live bytes of a space at t (after every event at or before t).
Result<int64_t> liveBytesAt(Recording& rec, int64_t spaceId, TimeNs t);
// liveBytesAt for many times in one pass over the events (times in any order; results in theirs).
Result<std::vector<int64_t>> liveBytesAtEach(Recording& rec, int64_t spaceId, const std::vector<TimeNs>& times);

// ---- live sets and the peak (O(n) scan of the space) ------------------------------------

Result<LiveSet> liveAt(Recording& rec, int64_t spaceId, TimeNs t, const Filter& filter = {}, int top = 20);
// The live allocations themselves, largest first (for tables with stacks); limit 0 = all.
Result<std::vector<Allocation>> liveAllocationsAt(Recording& rec, int64_t spaceId, TimeNs t, int limit = 1000);
// When and how high the space peaked, what was live then and why, in words.
Result<Peak> peak(Recording& rec, int64_t spaceId, const Filter& filter = {}, int top = 20);
// What was allocated and freed in [t0, t1).
Result<WindowActivity> activity(Recording& rec, int64_t spaceId, TimeNs t0, TimeNs t1, int top = 20);

// ---- leaks, growth, churn ------------------------------------------------------------------

// Live at the end by site; pool-cached memory (allocations backing a pool heap) excluded.
Result<Leaks> leaks(Recording& rec, int64_t spaceId, const Filter& filter = {}, int top = 20);
// Live bytes at successive step boundaries (NVTX "step N"/"iteration N"/"epoch N"), else a
// regression over time, with the sites responsible.
Result<Growth> growth(Recording& rec, int64_t spaceId, const Filter& filter = {}, int top = 20);
// Temporary allocations (freed before the thread's next allocation in the space, or within
// windowNs) and allocation rate per site.
Result<Churn> churn(Recording& rec, int64_t spaceId, const Filter& filter = {}, int top = 20,
    TimeNs windowNs = 1'000'000);

// ---- pools: fragmentation, segment map, OOM forensics --------------------------------------

// Fragmentation of a pool space over time (samples points), the worst moment and its pattern.
Result<Fragmentation> fragmentation(Recording& rec, int64_t poolSpaceId, int samples = 200, int top = 10);
// The blocks and free extents inside each heap of a pool at time t.
Result<SegmentMap> segmentMap(Recording& rec, int64_t poolSpaceId, TimeNs t);
// Every failed allocation (all spaces), classified: capacity, fragmentation or outside_process.
Result<std::vector<OomEvent>> oomForensics(Recording& rec, int top = 10);

// ---- call-site trees and stacks -------------------------------------------------------------

// Weighted call tree over full stacks (allocator frames included). spaceId 0 = all spaces.
Result<CallTree> callTree(Recording& rec, int64_t spaceId, TreeWeight weight, TreeDirection direction,
    const Filter& filter = {});

// ---- lanes ----------------------------------------------------------------------------------

// NVTX ranges overlapping [t0, t1) lasting at least minDurationNs.
Result<std::vector<RangeSpan>> ranges(Recording& rec, TimeNs t0, TimeNs t1, TimeNs minDurationNs = 0);
// Kernels and copies (memcpy and memset) overlapping [t0, t1); at most limit rows (0 = all).
Result<std::vector<KernelSpan>> kernels(Recording& rec, TimeNs t0, TimeNs t1, int limit = 0);
Result<std::vector<CopySpan>> copies(Recording& rec, TimeNs t0, TimeNs t1, int limit = 0);
Result<std::vector<FailedAllocation>> failedAllocations(Recording& rec, TimeNs t0, TimeNs t1);

} // namespace tidemark::analysis
