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
        auto st = rec.db().prepare(
            "SELECT coalesce(callsite_id, 0), coalesce(range_id, 0), size_bytes, address FROM allocations WHERE "
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

    // Inserts one weighted stack under the root, merging frames by their label.
    class TreeBuilder {
    public:
        explicit TreeBuilder(CallTree& tree)
            : m_tree(tree)
        {
            m_tree.nodes.assign(1, TreeNode {});
            m_tree.nodes[0].label = "all";
            m_index.resize(1);
        }

        void add(int64_t callsiteId, const std::vector<Location>& frames, int64_t w)
        {
            int node = 0;
            m_tree.nodes[0].total += w;
            for (const auto& loc : frames) {
                std::string label = loc.label();
                auto it = m_index[node].find(label);
                int child;
                if (it == m_index[node].end()) {
                    child = static_cast<int>(m_tree.nodes.size());
                    TreeNode n;
                    n.location = loc;
                    n.label = label;
                    n.parent = node;
                    n.callsiteId = callsiteId;
                    m_tree.nodes.push_back(std::move(n));
                    m_index.emplace_back();
                    m_index[node].emplace(label, child);
                    m_tree.nodes[node].children.push_back(child);
                } else {
                    child = it->second;
                }
                node = child;
                m_tree.nodes[node].total += w;
            }
            m_tree.nodes[node].self += w;
        }

        void sortChildren()
        {
            auto& nodes = m_tree.nodes;
            for (auto& n : nodes)
                std::sort(n.children.begin(), n.children.end(), [&](int a, int b) {
                    if (nodes[a].total != nodes[b].total)
                        return nodes[a].total > nodes[b].total;
                    return nodes[a].label < nodes[b].label;
                });
        }

    private:
        CallTree& m_tree;
        std::vector<std::unordered_map<std::string, int>> m_index;
    };

} // namespace

Result<CallTree> buildCallTreeFromWeights(Recording& rec, int64_t spaceId,
    const std::unordered_map<int64_t, int64_t>& weights, TreeWeight weight, TreeDirection direction)
{
    CallTree tree;
    tree.weight = weight;
    tree.direction = direction;
    tree.spaceId = spaceId;
    TreeBuilder builder(tree);
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
        builder.add(cs, frames, w);
    }
    builder.sortChildren();
    return tree;
}

Result<CallTree> callTree(
    Recording& rec, int64_t spaceId, TreeWeight weight, TreeDirection direction, const Filter& filter)
{
    std::unordered_map<int64_t, int64_t> weights;
    for (const auto& s : rec.spaces()) {
        if (spaceId != 0 && s.id != spaceId)
            continue;
        if (auto st = weighSpace(rec, s.id, weight, filter, weights); !st)
            return st.error();
    }
    return buildCallTreeFromWeights(rec, spaceId, weights, weight, direction);
}

} // namespace tidemark::analysis
