// Live bytes stacked by phase or call site over pixel columns: one index-ordered scan of the
// allocations that overlap the window, a delta per group and column, then prefix sums. The GUI runs
// it in a worker and paints the level-of-detail envelope (timeline()) until it arrives.
#include "analysis/stacked_timeline.h"
#include "analysis/internal.h"
#include "analysis/queries.h"

#include <algorithm>
#include <numeric>
#include <unordered_map>

namespace tidemark::analysis {

namespace {

    // Same column mapping as timeline(): column i covers [start(i), start(i+1)).
    struct StackColumns {
        TimeNs t0 = 0;
        TimeNs t1 = 0;
        int n = 0;
        int of(TimeNs t) const
        {
            if (t <= t0)
                return 0;
            auto i = static_cast<int>((static_cast<__int128>(t - t0) * n) / (t1 - t0));
            return std::clamp(i, 0, n - 1);
        }
    };

    // Interns group keys and remembers the group of every callsite / range already seen.
    class Grouper {
    public:
        Grouper(Recording& rec, StackBy by)
            : m_rec(rec)
            , m_by(by)
        {
        }

        int groupOf(int64_t callsiteId, int64_t rangeId)
        {
            int64_t id = m_by == StackBy::Site ? callsiteId : rangeId;
            if (auto it = m_byId.find(id); it != m_byId.end())
                return it->second;
            std::string key;
            std::string label;
            if (m_by == StackBy::Site) {
                if (id == 0) {
                    key = label = "(no stack)";
                } else {
                    const Site& s = m_rec.siteOf(id);
                    key = s.key;
                    label = s.label;
                }
            } else {
                key = m_rec.phaseOf(id);
                label = key.empty() ? std::string("(no phase)") : key;
                if (key.empty())
                    key = "(no phase)";
            }
            auto [it, fresh] = m_byKey.emplace(key, static_cast<int>(m_groups.size()));
            if (fresh)
                m_groups.push_back(StackGroup { key, label, 0 });
            m_byId.emplace(id, it->second);
            return it->second;
        }

        std::vector<StackGroup>& groups() { return m_groups; }

    private:
        Recording& m_rec;
        StackBy m_by;
        std::unordered_map<int64_t, int> m_byId;
        std::unordered_map<std::string, int> m_byKey;
        std::vector<StackGroup> m_groups;
    };

    // Keeps the `top` groups with the highest maximum; everything else folds into "other".
    void foldGroups(
        StackedTimeline& out, std::vector<StackGroup>& groups, const std::vector<std::vector<int64_t>>& live, int top)
    {
        std::vector<int> order(groups.size());
        std::iota(order.begin(), order.end(), 0);
        std::sort(order.begin(), order.end(), [&](int a, int b) {
            if (groups[a].maxBytes != groups[b].maxBytes)
                return groups[a].maxBytes > groups[b].maxBytes;
            return groups[a].key < groups[b].key;
        });
        size_t kept = std::min<size_t>(order.size(), static_cast<size_t>(std::max(top, 1)));
        bool other = kept < order.size();
        for (size_t i = 0; i < kept; ++i)
            out.groups.push_back(groups[order[i]]);
        if (other)
            out.groups.push_back(StackGroup { "", "other", 0 });
        const size_t g = out.groups.size();
        out.values.assign(static_cast<size_t>(out.columns) * g, 0);
        for (int c = 0; c < out.columns; ++c) {
            for (size_t i = 0; i < order.size(); ++i) {
                size_t slot = i < kept ? i : g - 1;
                out.values[static_cast<size_t>(c) * g + slot] += live[order[i]][c];
            }
        }
        if (other)
            for (int c = 0; c < out.columns; ++c)
                out.groups.back().maxBytes = std::max(out.groups.back().maxBytes, out.at(c, static_cast<int>(g - 1)));
    }

} // namespace

Result<StackedTimeline> stackedTimeline(
    Recording& rec, int64_t spaceId, TimeNs t0, TimeNs t1, int columns, StackBy by, int top)
{
    if (columns <= 0 || t1 <= t0)
        return makeError(ErrorCode::Usage, "stacked timeline needs t1 > t0 and a positive width");
    if (!rec.space(spaceId))
        return makeError(ErrorCode::NotFound, "no space with id " + std::to_string(spaceId));
    StackedTimeline out;
    out.spaceId = spaceId;
    out.by = by;
    out.t0 = t0;
    out.t1 = t1;
    out.columns = columns;
    StackColumns cols { t0, t1, columns };
    auto st = rec.db().prepare("SELECT size_bytes, alloc_ts_ns, free_ts_ns, coalesce(callsite_id, 0), "
                               "coalesce(range_id, 0) FROM allocations WHERE space_id = ?1 AND alloc_ts_ns < ?3 "
                               "AND (free_ts_ns IS NULL OR free_ts_ns > ?2)");
    if (!st)
        return st.error();
    st->bind(1, spaceId).bind(2, t0).bind(3, t1);
    Grouper grouper(rec, by);
    std::vector<std::vector<int64_t>> delta;
    int64_t polled = 0;
    while (st->step()) {
        if (pollCancel(rec, polled))
            return cancelledError();
        int64_t size = st->int64(0);
        TimeNs alloc = st->int64(1);
        bool freed = !st->isNull(2);
        TimeNs freeNs = freed ? st->int64(2) : 0;
        if (freed && freeNs <= alloc)
            continue; // zero-lifetime rows never count as live (as in liveAt and the series)
        int g = grouper.groupOf(st->int64(3), st->int64(4));
        if (g >= static_cast<int>(delta.size()))
            delta.resize(g + 1, std::vector<int64_t>(columns + 1, 0));
        delta[g][cols.of(alloc)] += size;
        if (freed && freeNs < t1)
            delta[g][cols.of(freeNs)] -= size;
    }
    if (!st->status())
        return st->status().error();
    auto& groups = grouper.groups();
    for (size_t g = 0; g < delta.size(); ++g) {
        int64_t run = 0;
        for (int c = 0; c < columns; ++c) {
            run += delta[g][c];
            delta[g][c] = run;
            groups[g].maxBytes = std::max(groups[g].maxBytes, run);
        }
    }
    foldGroups(out, groups, delta, top);
    return out;
}

} // namespace tidemark::analysis
