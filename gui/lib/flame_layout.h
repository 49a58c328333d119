// Flame-graph geometry from a CallTree, without widgets: each visible node becomes a box at its depth
// whose horizontal extent is its share of the focused node's total. Boxes narrower than minFraction
// are dropped (with their subtrees), so a tree of 100k nodes lays out in a few thousand boxes.
#pragma once

#include "analysis/types.h"

#include <vector>

namespace tidemark::gui {

struct FlameBox {
    int node = 0; // index into CallTree::nodes
    int depth = 0; // 0 = the focused node
    double x0 = 0; // fraction of the width, [0, 1]
    double x1 = 0;
};

// Boxes of the subtree under focus (focus itself at depth 0 spanning [0, 1]), parents before children.
std::vector<FlameBox> layoutFlame(const analysis::CallTree& tree, int focus = 0, double minFraction = 0.001);

// The box under (fraction, depth), or -1.
int flameBoxAt(const std::vector<FlameBox>& boxes, double fraction, int depth);

} // namespace tidemark::gui
