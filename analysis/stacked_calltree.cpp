// Call trees restricted to a selection of the GUI's timeline: the allocations live at an instant, or
// those made inside a window. Leaves are weighed per callsite in one indexed scan, then merged into a
// trie of frames (outermost first for top-down, the allocating frame first for bottom-up).
#include "analysis/internal.h"
#include "analysis/queries.h"
#include "analysis/stacked_timeline.h"

#include <algorithm>
#include <unordered_map>

namespace tidemark::analysis {

namespace {

    using Weights = std::unordered_map<int64_t, int64_t>;

    Status weigh(Recording& rec, trace::Stmt& st, bool countOnly, Weights& weights)
    {
        int64_t polled = 0;
        while (st.step()) {
            if (pollCancel(rec, polled))
                return cancelledError();
            weights[st.int64(0)] += countOnly ? 1 : st.int64(1);
        }
        return st.status();
    }

} // namespace

Result<CallTree> callTreeAt(Recording& rec, int64_t spaceId, TimeNs t, TreeDirection direction)
{
    if (!rec.space(spaceId))
        return makeError(ErrorCode::NotFound, "no space with id " + std::to_string(spaceId));
    auto st = rec.db().prepare("SELECT coalesce(callsite_id, 0), size_bytes FROM allocations WHERE space_id = ?1 "
                               "AND alloc_ts_ns <= ?2 AND (free_ts_ns IS NULL OR free_ts_ns > ?2)");
    if (!st)
        return st.error();
    st->bind(1, spaceId).bind(2, t);
    Weights weights;
    if (auto s = weigh(rec, *st, false, weights); !s)
        return s.error();
    return buildCallTreeFromWeights(rec, spaceId, weights, TreeWeight::PeakBytes, direction);
}

Result<CallTree> callTreeInWindow(
    Recording& rec, int64_t spaceId, TimeNs t0, TimeNs t1, TreeWeight weight, TreeDirection direction)
{
    if (!rec.space(spaceId))
        return makeError(ErrorCode::NotFound, "no space with id " + std::to_string(spaceId));
    if (weight == TreeWeight::PeakBytes)
        return callTreeAt(rec, spaceId, t1, direction);
    std::string sql = "SELECT coalesce(callsite_id, 0), size_bytes FROM allocations WHERE space_id = ?1 "
                      "AND alloc_ts_ns >= ?2 AND alloc_ts_ns < ?3";
    if (weight == TreeWeight::LeakedBytes)
        sql += " AND free_ts_ns IS NULL";
    auto st = rec.db().prepare(sql);
    if (!st)
        return st.error();
    st->bind(1, spaceId).bind(2, t0).bind(3, t1);
    Weights weights;
    if (auto s = weigh(rec, *st, weight == TreeWeight::AllocationCount, weights); !s)
        return s.error();
    return buildCallTreeFromWeights(rec, spaceId, weights, weight, direction);
}

} // namespace tidemark::analysis
