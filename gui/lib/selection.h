// What the user selected on the timeline: one instant (what was live then) or a range (what was
// allocated and freed in it), in one space. Every pane follows it.
#pragma once

#include "analysis/types.h"

namespace tidemark::gui {

struct Selection {
    bool valid = false;
    bool range = false;
    analysis::TimeNs t0 = 0; // the instant when !range
    analysis::TimeNs t1 = 0; // == t0 when !range
    int64_t spaceId = 0;
    bool operator==(const Selection&) const = default;
};

} // namespace tidemark::gui
