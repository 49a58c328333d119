// Internals shared by the analysis sources (not part of the public API): the caches a Recording
// owns, the time-ordered allocation event stream, series parameters, and small helpers.
#pragma once

#include "analysis/recording.h"
#include "analysis/types.h"
#include "trace/events.h"
#include "trace/series.h"
#include "trace/sqlite.h"

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace tidemark::analysis {

// Level-of-detail parameters (trace/series.h): kept in meta, shared with the collector.
using SeriesParams = trace::SeriesParams;

struct RangeRow {
    int64_t parentId = 0;
    int64_t processId = 0;
    int64_t threadId = 0;
    int64_t depth = 0;
    int64_t nameId = 0;
    int64_t domainId = 0;
    TimeNs startNs = 0;
    TimeNs endNs = 0; // -1 = open
    std::optional<int64_t> color;
};

// How many allocation rows a space has (from its series; -1 without one) against the table's rows.
// A space that is most of the table is read in table order, one pass, rather than through an index
// (a random row lookup each: rows are stored in free order, not by space or allocation time).
struct SpaceShare {
    int64_t rows = -1;
    int64_t tableRows = 0;
    bool mostOfTable() const { return rows >= 0 && rows * 4 >= tableRows; }
};

// The highest live bytes of a space and the first time they were reached.
struct PeakPoint {
    int64_t bytes = 0;
    TimeNs ts = 0;
};

struct RecordingCaches {
    std::vector<SpaceInfo> spaces;
    TimeNs startNs = 0;
    TimeNs endNs = 0;
    SeriesParams series;
    std::vector<std::string> apiNames;

    bool rangesLoaded = false;
    std::unordered_map<int64_t, RangeRow> ranges;
    std::unordered_map<int64_t, std::string> phasePaths;

    bool callsitesLoaded = false;
    std::unordered_map<int64_t, std::pair<int64_t, int64_t>> callsites; // id -> (parent, frame)
    std::unordered_map<int64_t, Site> sites;                              // leaf callsite -> site
    std::unordered_map<int64_t, std::vector<Location>> frames;            // frame -> chain, innermost first
    std::unordered_map<int64_t, std::string> strings;
    std::unordered_map<int64_t, std::string> modules; // module id -> basename

    // Per space: merged, sorted address ranges of the pool heaps living in it (isPoolBacking).
    std::unordered_map<int64_t, std::vector<std::pair<int64_t, int64_t>>> poolBacking;

    // Per space: its share of the allocations table; its peak, once located.
    std::unordered_map<int64_t, SpaceShare> shares;
    std::unordered_map<int64_t, PeakPoint> peaks;

    // Longest kernel / copy / memset, so window queries can bound their index range (-1 = unknown).
    TimeNs maxKernelNs = -1;
    TimeNs maxMemcpyNs = -1;
    TimeNs maxMemsetNs = -1;
};

// The time-ordered live-bytes events of a space's rows (shared with the write side's finalize).
using trace::EventStream;
using trace::LiveEvent;

// Fails with ErrorCode::Cancelled when the recording's cancel flag is set (polled every 64k rows).
inline bool pollCancel(Recording& rec, int64_t& counter)
{
    return ((++counter & 0xffff) == 0) && rec.cancelled();
}
Error cancelledError();

// Sorts rows by bytes (then key), fills share against total, keeps the first top (top <= 0: all).
void finishBreakdown(std::vector<BreakdownRow>& rows, int64_t total, int top);

// Accumulates rows keyed by a string.
class BreakdownBuilder {
public:
    void add(const std::string& key, const std::string& label, int64_t bytes, int64_t callsiteId);
    std::vector<BreakdownRow> take(int64_t total, int top);

private:
    std::unordered_map<std::string, BreakdownRow> m_rows;
};

// Steps of the run: ranges named "step N" / "iteration N" / "epoch N" (the finer kind when several).
struct StepRange {
    int64_t index = 0;
    TimeNs startNs = 0;
    TimeNs endNs = 0;
};
std::vector<StepRange> findSteps(Recording& rec, std::string* stepName);

// Live-at-end allocations of a space that back a registered pool heap (reserved, not leaked).
bool isPoolBacking(Recording& rec, int64_t spaceId, int64_t address, int64_t size);

int64_t percentileOf(std::vector<int64_t>& values, double q);

// The peak of a space (series + one bucket of events when finalized, a full event replay
// otherwise); located once per Recording.
Result<PeakPoint> locatePeak(Recording& rec, int64_t spaceId);

Result<SpaceShare> spaceShare(Recording& rec, int64_t spaceId);

// Merges weighted leaf callsites into a call tree (frames merged by location; top-down roots are
// outermost frames, bottom-up roots the allocating frames). Shared by callTree() and the
// selection trees of stacked_calltree.cpp.
Result<CallTree> buildCallTreeFromWeights(Recording& rec, int64_t spaceId,
    const std::unordered_map<int64_t, int64_t>& weights, TreeWeight weight, TreeDirection direction);

// Heaps registered in a pool space: reserved bytes over time.
struct HeapSpan {
    int64_t id = 0;
    int64_t address = 0;
    int64_t sizeBytes = 0;
    TimeNs registerNs = 0;
    TimeNs unregisterNs = 0; // INT64_MAX when never unregistered
    std::string usage;
    int64_t nameId = 0;
};
Result<std::vector<HeapSpan>> loadHeaps(Recording& rec, int64_t poolSpaceId);
int64_t reservedAt(const std::vector<HeapSpan>& heaps, TimeNs t);
PeakPoint reservedPeak(const std::vector<HeapSpan>& heaps);

} // namespace tidemark::analysis
