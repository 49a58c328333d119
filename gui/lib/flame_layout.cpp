// Flame-graph layout (see flame_layout.h): children laid left to right, largest first, in order.
#include "gui/lib/flame_layout.h"

namespace tidemark::gui {

std::vector<FlameBox> layoutFlame(const analysis::CallTree& tree, int focus, double minFraction)
{
    std::vector<FlameBox> boxes;
    if (focus < 0 || focus >= static_cast<int>(tree.nodes.size()) || tree.nodes[focus].total <= 0)
        return boxes;
    const double all = static_cast<double>(tree.nodes[focus].total);
    boxes.push_back(FlameBox { focus, 0, 0.0, 1.0 });
    // Breadth-first over the boxes already placed: the vector doubles as the queue.
    for (size_t i = 0; i < boxes.size(); ++i) {
        const FlameBox parent = boxes[i];
        double x = parent.x0;
        for (int child : tree.nodes[parent.node].children) {
            double w = static_cast<double>(tree.nodes[child].total) / all;
            if (w < minFraction)
                continue; // children are sorted largest first, but keep x honest for the rest anyway
            boxes.push_back(FlameBox { child, parent.depth + 1, x, x + w });
            x += w;
        }
    }
    return boxes;
}

int flameBoxAt(const std::vector<FlameBox>& boxes, double fraction, int depth)
{
    for (size_t i = 0; i < boxes.size(); ++i)
        if (boxes[i].depth == depth && fraction >= boxes[i].x0 && fraction < boxes[i].x1)
            return static_cast<int>(i);
    return -1;
}

} // namespace tidemark::gui
