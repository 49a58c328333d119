// Time <-> pixel mapping of the timeline: linear in double precision, clamped to the recording.
#include "gui/lib/time_mapping.h"

#include <algorithm>
#include <cmath>

namespace tidemark::gui {

TimeMapping::TimeMapping(TimeWindow fullWindow, int widthPx)
    : full(fullWindow)
    , view(fullWindow)
{
    if (full.t1 <= full.t0)
        full.t1 = full.t0 + 1;
    view = full;
    setWidth(widthPx);
}

double TimeMapping::nsPerPixel() const
{
    return static_cast<double>(view.duration()) / width;
}

double TimeMapping::mapTimeToX(TimeNs t) const
{
    return static_cast<double>(t - view.t0) / nsPerPixel();
}

TimeNs TimeMapping::mapXToTime(double x) const
{
    return view.t0 + static_cast<TimeNs>(std::llround(x * nsPerPixel()));
}

void TimeMapping::zoomAbout(double x, double factor)
{
    if (factor <= 0)
        return;
    // The time under x stays under x: t = t0 + x * d, so t0' = t - x * d / factor.
    const double d = static_cast<double>(view.duration());
    const double t = static_cast<double>(view.t0) + x * d / width;
    const double nd = std::max(d / factor, static_cast<double>(std::min(kMinDurationNs, full.duration())));
    const double nt0 = t - (x / width) * nd;
    view.t0 = static_cast<TimeNs>(std::llround(nt0));
    view.t1 = view.t0 + static_cast<TimeNs>(std::llround(nd));
    clamp();
}

void TimeMapping::panByPixels(double dx)
{
    auto shift = static_cast<TimeNs>(std::llround(dx * nsPerPixel()));
    view.t0 -= shift;
    view.t1 -= shift;
    clamp();
}

void TimeMapping::setView(TimeWindow w)
{
    view = w;
    clamp();
}

void TimeMapping::clamp()
{
    TimeNs minDur = std::min(kMinDurationNs, full.duration());
    TimeNs d = std::clamp(view.duration(), minDur, full.duration());
    // Keep the duration, slide inside the full window.
    if (view.t0 < full.t0)
        view.t0 = full.t0;
    if (view.t0 + d > full.t1)
        view.t0 = full.t1 - d;
    view.t1 = view.t0 + d;
}

TimeWindow ZoomStack::pop()
{
    TimeWindow w = m_stack.back();
    m_stack.pop_back();
    return w;
}

} // namespace tidemark::gui
