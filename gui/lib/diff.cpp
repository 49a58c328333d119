// GUI diff mode (see diff.h): summarize both recordings with the CI gate's measures, compare them
// with analysis::diffSummaries, and flatten the result into rows.
#include "gui/lib/diff.h"

#include "analysis/baseline.h"

namespace tidemark::gui {

std::vector<DiffRow> flattenDiff(const analysis::Diff& diff)
{
    std::vector<DiffRow> rows;
    for (const auto& s : diff.spaces) {
        auto total = [&](const char* label, double a, double b, const char* unit = "bytes") {
            rows.push_back(DiffRow { s.space, "total", unit, label, label, a, b });
        };
        total("peak", static_cast<double>(s.peakA), static_cast<double>(s.peakB));
        total("leaked", static_cast<double>(s.leakedA), static_cast<double>(s.leakedB));
        total("live at end", static_cast<double>(s.liveAtEndA), static_cast<double>(s.liveAtEndB));
        if (s.growthA || s.growthB)
            total("growth per step", s.growthA.value_or(0.0), s.growthB.value_or(0.0), "bytes/step");
        for (const auto& t : s.tables)
            for (const auto& r : t.rows)
                rows.push_back(DiffRow { s.space, t.title, t.unit, r.key, r.label, r.a, r.b });
    }
    return rows;
}

Result<RecordingDiff> diffRecordings(analysis::Recording& before, analysis::Recording& after)
{
    analysis::SummarizeOptions options;
    auto a = analysis::summarize(before, options);
    if (!a)
        return a.error();
    auto b = analysis::summarize(after, options);
    if (!b)
        return b.error();
    RecordingDiff out;
    out.beforePath = before.path();
    out.afterPath = after.path();
    out.diff = analysis::diffSummaries(*a, *b);
    out.rows = flattenDiff(out.diff);
    return out;
}

} // namespace tidemark::gui
