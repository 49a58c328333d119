// Time <-> pixel math of the timeline as a plain value type (no widgets), so zooming, panning and
// clamping can be unit-tested; plus the stack of earlier views that "Back" returns to.
#pragma once

#include <cstdint>
#include <vector>

namespace tidemark::gui {

using TimeNs = int64_t;

struct TimeWindow {
    TimeNs t0 = 0;
    TimeNs t1 = 1;
    TimeNs duration() const { return t1 - t0; }
    bool operator==(const TimeWindow&) const = default;
};

// Maps the visible window [view.t0, view.t1) onto [0, width) pixels. The view always stays inside the
// recording's [full.t0, full.t1] and never gets narrower than kMinDurationNs.
struct TimeMapping {
    static constexpr TimeNs kMinDurationNs = 1000; // 1 µs: below that, columns hold single events anyway

    TimeWindow full;
    TimeWindow view;
    int width = 1;

    TimeMapping() = default;
    TimeMapping(TimeWindow fullWindow, int widthPx);

    double nsPerPixel() const;
    double mapTimeToX(TimeNs t) const;
    TimeNs mapXToTime(double x) const;

    // Zooms by factor (>1 zooms in) keeping the time under pixel x where it is.
    void zoomAbout(double x, double factor);
    // Shifts the view by dx pixels (positive: content moves right, so earlier times come into view).
    void panByPixels(double dx);
    void setView(TimeWindow w); // clamped
    void resetZoom() { view = full; }
    void setWidth(int widthPx) { width = widthPx < 1 ? 1 : widthPx; }
    bool isZoomed() const { return view.t0 > full.t0 || view.t1 < full.t1; }

private:
    void clamp();
};

// Earlier views for "Back" (zoom to selection pushes, back pops).
class ZoomStack {
public:
    void push(TimeWindow w) { m_stack.push_back(w); }
    bool canGoBack() const { return !m_stack.empty(); }
    TimeWindow pop();
    void clear() { m_stack.clear(); }
    int size() const { return static_cast<int>(m_stack.size()); }

private:
    std::vector<TimeWindow> m_stack;
};

} // namespace tidemark::gui
