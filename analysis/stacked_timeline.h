// Queries the GUI needs beyond the core API (owned by the GUI's issue): the live bytes of a space over
// time stacked by phase or by call site, and call trees restricted to a selection (live at an instant,
// or allocated inside a window), so that selecting on the timeline can drive the trees and flame graph.
#pragma once

#include "analysis/recording.h"
#include "analysis/types.h"
#include "trace/result.h"

#include <string>
#include <vector>

namespace tidemark::analysis {

enum class StackBy { Phase, Site };

struct StackGroup {
    std::string key; // phase path or site key; "" for the group of everything else
    std::string label; // what a person reads
    int64_t maxBytes = 0; // highest value of the group over the columns
};

// Live bytes per group at the end of each column of [t0, t1). values[c * groups.size() + g].
// The groups are the `top` largest by their maximum over the window, then "other" when needed.
struct StackedTimeline {
    int64_t spaceId = 0;
    StackBy by = StackBy::Phase;
    TimeNs t0 = 0;
    TimeNs t1 = 0;
    int columns = 0;
    std::vector<StackGroup> groups;
    std::vector<int64_t> values;
    int64_t at(int column, int group) const { return values[static_cast<size_t>(column) * groups.size() + group]; }
};

// O(allocations alive in or before the window): run it off the UI thread; honours the cancel flag.
Result<StackedTimeline> stackedTimeline(
    Recording& rec, int64_t spaceId, TimeNs t0, TimeNs t1, int columns, StackBy by, int top = 8);

// Call trees over a selection (spaceId must name one space). weight PeakBytes means "bytes live at
// t"; AllocationCount and AllocatedBytes count allocations made in [t0, t1); LeakedBytes counts the
// allocations made in [t0, t1) that are never freed.
Result<CallTree> callTreeAt(Recording& rec, int64_t spaceId, TimeNs t, TreeDirection direction);
Result<CallTree> callTreeInWindow(
    Recording& rec, int64_t spaceId, TimeNs t0, TimeNs t1, TreeWeight weight, TreeDirection direction);

} // namespace tidemark::analysis
