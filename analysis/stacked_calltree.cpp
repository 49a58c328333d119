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

    Result<CallTree> buildTree(
        Recording& rec, int64_t spaceId, const Weights& weights, TreeWeight weight, TreeDirection direction)
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
    return buildTree(rec, spaceId, weights, TreeWeight::PeakBytes, direction);
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
    return buildTree(rec, spaceId, weights, weight, direction);
}

} // namespace tidemark::analysis
