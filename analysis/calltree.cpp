// Call-site trees over full stacks (allocator frames included): top-down (callers first) or
// bottom-up (allocation sites first), weighted by bytes live at the peak, leaked bytes, allocation
// count or allocated bytes. Frames merge by location, so a tree stays readable on deep stacks.
#include "analysis/internal.h"
#include "analysis/queries.h"

#include <algorithm>
#include <unordered_map>

namespace tidemark::analysis {

namespace {

// Weight of each leaf callsite in one space.
Status weighSpace(Recording& rec, int64_t spaceId, TreeWeight weight, const Filter& filter,
    std::unordered_map<int64_t, int64_t>& weights)
{
    std::string where = "space_id = ?1";
    TimeNs peakTs = 0;
    if (weight == TreeWeight::PeakBytes) {
        auto p = locatePeak(rec, spaceId);
        if (!p)
            return p.error();
        if (p->bytes == 0)
            return okStatus();
        peakTs = p->ts;
        where += " AND alloc_ts_ns <= ?2 AND (free_ts_ns IS NULL OR free_ts_ns > ?2)";
    } else if (weight == TreeWeight::LeakedBytes) {
        where += " AND free_ts_ns IS NULL";
    }
    auto st = rec.db().prepare("SELECT coalesce(callsite_id, 0), coalesce(range_id, 0), size_bytes, address FROM allocations WHERE "
        + where);
    if (!st)
        return st.error();
    st->bind(1, spaceId);
    if (weight == TreeWeight::PeakBytes)
        st->bind(2, peakTs);
    int64_t polled = 0;
    while (st->step()) {
        if (pollCancel(rec, polled))
            return cancelledError();
        if (!filter.phase.empty() && !phaseMatches(rec.phaseOf(st->int64(1)), filter.phase))
            continue;
        if (weight == TreeWeight::LeakedBytes && isPoolBacking(rec, spaceId, st->int64(3), st->int64(2)))
            continue;
        weights[st->int64(0)] += weight == TreeWeight::AllocationCount ? 1 : st->int64(2);
    }
    return st->status();
}

} // namespace

Result<CallTree> callTree(Recording& rec, int64_t spaceId, TreeWeight weight, TreeDirection direction, const Filter& filter)
{
    CallTree tree;
    tree.weight = weight;
    tree.direction = direction;
    tree.spaceId = spaceId;
    std::unordered_map<int64_t, int64_t> weights;
    for (const auto& s : rec.spaces()) {
        if (spaceId != 0 && s.id != spaceId)
            continue;
        if (auto st = weighSpace(rec, s.id, weight, filter, weights); !st)
            return st.error();
    }
    tree.nodes.push_back(TreeNode {});
    tree.nodes[0].label = "all";
    std::vector<std::unordered_map<std::string, int>> childIndex(1);
    std::vector<std::pair<int64_t, int64_t>> leaves(weights.begin(), weights.end());
    std::sort(leaves.begin(), leaves.end()); // deterministic node order
    for (const auto& [cs, w] : leaves) {
        if (w == 0)
            continue;
        std::vector<Location> frames;
        if (cs != 0) {
            auto stack = rec.stack(cs);
            if (!stack)
                return stack.error();
            frames = std::move(*stack);
        }
        if (frames.empty()) {
            Location none;
            none.function = "(no stack)";
            frames.push_back(none);
        }
        if (direction == TreeDirection::BottomUp)
            std::reverse(frames.begin(), frames.end());
        int node = 0;
        tree.nodes[0].total += w;
        for (const auto& loc : frames) {
            std::string label = loc.label();
            auto it = childIndex[node].find(label);
            int child;
            if (it == childIndex[node].end()) {
                child = static_cast<int>(tree.nodes.size());
                TreeNode n;
                n.location = loc;
                n.label = label;
                n.parent = node;
                n.callsiteId = cs;
                tree.nodes.push_back(std::move(n));
                childIndex.emplace_back();
                childIndex[node].emplace(label, child);
                tree.nodes[node].children.push_back(child);
            } else {
                child = it->second;
            }
            node = child;
            tree.nodes[node].total += w;
        }
        tree.nodes[node].self += w;
    }
    for (auto& n : tree.nodes)
        std::sort(n.children.begin(), n.children.end(), [&](int a, int b) {
            if (tree.nodes[a].total != tree.nodes[b].total)
                return tree.nodes[a].total > tree.nodes[b].total;
            return tree.nodes[a].label < tree.nodes[b].label;
        });
    return tree;
}

} // namespace tidemark::analysis
