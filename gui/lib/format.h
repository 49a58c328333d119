// Formatting shared by every pane: sizes and times in the same words as the CLI report, times on the
// timeline relative to the start of the recording, and the palette used for stacked groups.
#pragma once

#include "analysis/types.h"

#include <QColor>
#include <QString>

namespace tidemark::gui {

QString formatBytes(int64_t bytes);
QString formatDuration(analysis::TimeNs ns);
// Seconds since the start of the recording with a precision suited to the visible span.
QString formatOffset(analysis::TimeNs ns, analysis::TimeNs spanNs);
QString formatPercent(double share);
QString formatCount(int64_t n);
// Distinct, readable colours on white for up to 10 groups; repeats after that. The last, "other",
// group uses otherColor().
QColor groupColor(int index);
QColor otherColor();
// A stable colour for a string (blocks of the same site share a colour in the segment map).
QColor colorForKey(const QString& key);

} // namespace tidemark::gui
