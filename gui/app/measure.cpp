// runMeasure (see measure.h): the same calls the window makes, timed one by one on this thread.
#include "gui/app/measure.h"

#include "analysis/stacked_timeline.h"
#include "gui/app/timeline_widget.h"
#include "gui/lib/loader.h"

#include <QElapsedTimer>
#include <QImage>

#include <algorithm>
#include <cstdio>

namespace tidemark::gui {

namespace {

    double msSince(const QElapsedTimer& t)
    {
        return t.nsecsElapsed() / 1e6;
    }

    // Median of n offscreen repaints of the widget.
    double paintMs(TimelineWidget& w, int n = 7)
    {
        QImage img(w.size(), QImage::Format_ARGB32_Premultiplied);
        std::vector<double> ms;
        for (int i = 0; i < n; ++i) {
            QElapsedTimer t;
            t.start();
            w.render(&img);
            ms.push_back(msSince(t));
        }
        std::sort(ms.begin(), ms.end());
        return ms[ms.size() / 2];
    }

} // namespace

int runMeasure(const QString& path)
{
    QElapsedTimer total;
    total.start();
    auto ov = Loader::buildOverview(path, nullptr, [](int, const QString&) {});
    if (!ov) {
        std::fprintf(stderr, "tidemark-gui: error: %s\n", qPrintable(errorText(ov.error())));
        return 2;
    }
    auto overview = std::make_shared<Overview>(std::move(*ov));
    std::printf("recording            %s\n", qPrintable(path));
    std::printf("open (+finalize)     %8.1f ms\n", overview->openSeconds * 1e3);
    std::printf("first timeline       %8.1f ms  (open, whole-run timeline of %zu spaces from the series)\n",
        overview->overviewSeconds * 1e3, overview->spaces.size());
    analysis::Recording& rec = *overview->fastRec;
    {
        QElapsedTimer t;
        t.start();
        auto summary = analysis::summary(*overview->slowRec);
        if (!summary) {
            std::fprintf(stderr, "tidemark-gui: error: %s\n", qPrintable(errorText(summary.error())));
            return 2;
        }
        std::printf("allocations          %lld\n", static_cast<long long>(summary->allocations));
        std::printf("summary stage        %8.1f ms  (counts and totals: one scan per space)\n", msSince(t));
    }
    TimelineWidget w;
    w.resize(1400, 560);
    w.setOverview(overview);
    std::printf("first paint          %8.1f ms  (1400x560, envelope only)\n", paintMs(w, 1));

    // Zoom in around the first space's peak, 10x per level: query the view (what the fast runner does),
    // the stacked groups (slow runner), then repaint.
    const auto peak = overview->peakNs.empty() ? overview->summary.startNs : overview->peakNs[0];
    std::printf("%-8s %14s %12s %12s %14s %10s\n", "zoom", "span", "timeline ms", "lanes ms", "stacked ms", "paint ms");
    for (double zoom : { 1.0, 10.0, 100.0, 1e3, 1e4, 1e5 }) {
        const auto full = w.mapping().full;
        const auto span = std::max<analysis::TimeNs>(
            TimeMapping::kMinDurationNs, static_cast<analysis::TimeNs>(full.duration() / zoom));
        w.setView(TimeWindow { peak - span / 2, peak + span / 2 }, false);
        const auto v = w.view();
        QElapsedTimer t;
        t.start();
        std::vector<analysis::Timeline> tls;
        for (const auto& s : overview->spaces)
            tls.push_back(std::move(*analysis::timeline(rec, s.id, v.t0, v.t1, w.plotWidth())));
        const double tlMs = msSince(t);
        t.restart();
        Lanes lanes;
        lanes.window = v;
        lanes.ranges = analysis::ranges(rec, v.t0, v.t1, v.duration() / w.plotWidth() / 2).value();
        lanes.kernels = analysis::kernels(rec, v.t0, v.t1, 20000).value();
        lanes.copies = analysis::copies(rec, v.t0, v.t1, 20000).value();
        const double laneMs = msSince(t);
        t.restart();
        std::vector<analysis::StackedTimeline> stacked;
        for (const auto& s : overview->spaces)
            stacked.push_back(std::move(
                *analysis::stackedTimeline(rec, s.id, v.t0, v.t1, w.plotWidth() / 2, analysis::StackBy::Phase, 8)));
        const double stMs = msSince(t);
        w.setTimelines(std::move(tls));
        w.setLanes(std::move(lanes));
        w.setStacked(std::move(stacked));
        std::printf(
            "%-8.0f %11.3f ms %12.1f %12.1f %14.1f %10.1f\n", zoom, v.duration() / 1e6, tlMs, laneMs, stMs, paintMs(w));
    }
    QElapsedTimer t;
    t.start();
    auto report = analysis::buildReport(*overview->slowRec, analysis::ReportOptions {});
    std::printf(
        "full report          %8.1f ms  (summary page: peaks, leaks, growth, churn, fragmentation)\n", msSince(t));
    std::printf("total                %8.1f ms\n", msSince(total));
    return report ? 0 : 2;
}

} // namespace tidemark::gui
