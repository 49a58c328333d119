// `tidemark-gui --measure FILE`: prints how long the GUI takes on a recording — time to the first
// timeline (open + overview), the report, and per zoom level the view queries and the repaint of the
// timeline (rendered offscreen). The numbers in docs/performance.md ("GUI") come from it.
#pragma once

#include <QString>

namespace tidemark::gui {

int runMeasure(const QString& path);

} // namespace tidemark::gui
