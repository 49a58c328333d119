// Nesting flat ranges by time: sorted by start (longer first on ties), a stack of open ranges gives each
// its parent; lookups walk from the latest range started before t up its parents.
#include "analysis/import/range_nesting.h"

#include <algorithm>

namespace tidemark::import {

namespace {
bool endsBy(const std::optional<int64_t>& end, int64_t ts) { return end && *end <= ts; }
} // namespace

void RangeTable::insertAll(RecordingWriter& out, int64_t processId, std::optional<int64_t> threadId,
    std::vector<PendingRange> ranges)
{
    std::stable_sort(ranges.begin(), ranges.end(), [](const PendingRange& a, const PendingRange& b) {
        if (a.startTsNs != b.startTsNs)
            return a.startTsNs < b.startTsNs;
        int64_t ea = a.endTsNs.value_or(INT64_MAX), eb = b.endTsNs.value_or(INT64_MAX);
        return ea > eb;
    });
    m_rows.clear();
    m_rows.reserve(ranges.size());
    std::vector<int> stack;
    for (const PendingRange& r : ranges) {
        while (!stack.empty() && endsBy(m_rows[stack.back()].end, r.startTsNs))
            stack.pop_back();
        RangeRow row { .process_id = processId,
            .thread_id = threadId,
            .parent_id = stack.empty() ? std::nullopt : std::optional<int64_t>(m_rows[stack.back()].id),
            .depth = static_cast<int64_t>(stack.size()),
            .kind = r.kind,
            .domain_id = r.domainId,
            .name_id = out.optString(r.name),
            .category = r.category,
            .color = r.color,
            .start_ts_ns = r.startTsNs,
            .end_ts_ns = r.endTsNs };
        int64_t id = out.range(row);
        m_rows.push_back({ r.startTsNs, r.endTsNs, id, stack.empty() ? -1 : stack.back() });
        stack.push_back(static_cast<int>(m_rows.size() - 1));
    }
}

std::optional<int64_t> RangeTable::innermostAt(int64_t ts) const
{
    auto it = std::upper_bound(m_rows.begin(), m_rows.end(), ts, [](int64_t t, const Row& r) { return t < r.start; });
    if (it == m_rows.begin())
        return std::nullopt;
    int idx = static_cast<int>(it - m_rows.begin()) - 1;
    // The latest-started range may have ended; its ancestors are the only other candidates that contain
    // ts because ranges nest. Siblings started earlier ended before it started.
    int hops = 0;
    while (idx >= 0 && hops++ < 100000) {
        if (!endsBy(m_rows[idx].end, ts) || (m_rows[idx].end && *m_rows[idx].end > ts))
            return m_rows[idx].id;
        idx = m_rows[idx].parent;
    }
    return std::nullopt;
}

} // namespace tidemark::import
