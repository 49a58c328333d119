// Two recordings side by side (GUI diff mode), flattened for a table: per space the totals (peak,
// leaked, live at end, growth per step), then the rows of analysis::diffSummaries' tables (peak by
// site, peak by phase, leaks by site, growth by site), the same comparison `tidemark diff` prints.
#pragma once

#include "analysis/diff.h"
#include "analysis/recording.h"
#include "trace/result.h"

#include <string>
#include <vector>

namespace tidemark::gui {

struct DiffRow {
    std::string space;
    std::string measure; // "total" or the table title ("peak by site", ...)
    std::string unit; // "bytes" or "bytes/step"
    std::string key;
    std::string label;
    double before = 0;
    double after = 0;
    double delta() const { return after - before; }
};

struct RecordingDiff {
    std::string beforePath;
    std::string afterPath;
    analysis::Diff diff;
    std::vector<DiffRow> rows;
};

// Flattens an analysis::Diff (exposed for tests).
std::vector<DiffRow> flattenDiff(const analysis::Diff& diff);
Result<RecordingDiff> diffRecordings(analysis::Recording& before, analysis::Recording& after);

} // namespace tidemark::gui
