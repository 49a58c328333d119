// TimelineWidget: layout, interaction (zoom, pan, selection, back) and hover text. Painting is in
// timeline_paint.cpp.
#include "gui/app/timeline_widget.h"

#include "gui/lib/format.h"

#include <QKeyEvent>
#include <QMouseEvent>
#include <QToolTip>
#include <QWheelEvent>

#include <algorithm>
#include <cmath>

namespace tidemark::gui {

TimelineWidget::TimelineWidget(QWidget* parent)
    : QWidget(parent)
{
    setMouseTracking(true);
    setFocusPolicy(Qt::StrongFocus);
    setMinimumHeight(220);
    setAttribute(Qt::WA_OpaquePaintEvent);
}

void TimelineWidget::setOverview(std::shared_ptr<Overview> overview)
{
    m_overview = std::move(overview);
    const auto& s = m_overview->summary;
    m_map = TimeMapping(TimeWindow { s.startNs, std::max(s.endNs, s.startNs + 1) }, plotWidth());
    m_back.clear();
    m_timelines = m_overview->timelines;
    m_stacked.assign(m_timelines.size(), std::nullopt);
    m_lanes = Lanes {};
    m_selection = Selection {};
    layoutTracks();
    update();
    emitView();
}

void TimelineWidget::setTimelines(std::vector<analysis::Timeline> timelines)
{
    if (!m_overview || timelines.size() != m_overview->spaces.size())
        return;
    m_timelines = std::move(timelines);
    update();
}

void TimelineWidget::setStacked(std::vector<analysis::StackedTimeline> stacked)
{
    m_stacked.assign(m_timelines.size(), std::nullopt);
    for (size_t i = 0; i < stacked.size() && i < m_stacked.size(); ++i)
        m_stacked[i] = std::move(stacked[i]);
    update();
}

void TimelineWidget::setLanes(Lanes lanes)
{
    m_lanes = std::move(lanes);
    layoutTracks();
    update();
}

void TimelineWidget::setSelection(const Selection& s)
{
    m_selection = s;
    update();
}

void TimelineWidget::setHoverExact(analysis::TimeNs t, int64_t spaceId, int64_t bytes)
{
    m_exact = Exact { t, spaceId, bytes };
    if (m_hoverPos.x() >= 0 && rect().contains(m_hoverPos))
        QToolTip::showText(mapToGlobal(m_hoverPos), hoverText(m_hoverPos), this);
}

int TimelineWidget::plotWidth() const
{
    return std::max(1, width() - kLabelWidth - 8);
}

const analysis::Timeline& TimelineWidget::timelineOf(int space) const
{
    return m_timelines[space];
}

int TimelineWidget::rangeDepth() const
{
    int64_t depth = 0;
    for (const auto& r : m_lanes.ranges)
        depth = std::max(depth, r.depth);
    return static_cast<int>(std::min<int64_t>(depth, 5)) + 1;
}

int TimelineWidget::laneHeight() const
{
    // ranges (one row per depth), kernels, copies, failed allocations, plus gaps
    return (rangeDepth() + 3) * kLaneRow + 4 * 4;
}

void TimelineWidget::layoutTracks()
{
    m_tracks.clear();
    if (!m_overview)
        return;
    const int n = static_cast<int>(m_overview->spaces.size());
    const int lanes = laneHeight();
    const int avail = height() - kAxisHeight - lanes - 8;
    const int each = n > 0 ? std::max(60, avail / n) : 0;
    int y = kAxisHeight + 2;
    for (int i = 0; i < n; ++i) {
        m_tracks.push_back(Track { QRect(kLabelWidth, y, plotWidth(), each - 6), i });
        y += each;
    }
    m_laneRect = QRect(kLabelWidth, y, plotWidth(), lanes);
}

void TimelineWidget::resizeEvent(QResizeEvent*)
{
    m_map.setWidth(plotWidth());
    layoutTracks();
    emitView();
}

void TimelineWidget::setView(TimeWindow w, bool remember)
{
    if (remember)
        m_back.push(m_map.view);
    m_map.setView(w);
    update();
    emitView();
}

void TimelineWidget::emitView()
{
    if (m_overview)
        emit viewChanged(m_map.view);
}

void TimelineWidget::zoomToSelection()
{
    if (!m_selection.valid)
        return;
    if (m_selection.range) {
        setView(TimeWindow { m_selection.t0, m_selection.t1 }, true);
    } else {
        // An instant: zoom 10x around it.
        auto d = m_map.view.duration() / 10;
        setView(TimeWindow { m_selection.t0 - d / 2, m_selection.t0 + d / 2 }, true);
    }
}

void TimelineWidget::back()
{
    if (m_back.canGoBack()) {
        m_map.setView(m_back.pop());
        update();
        emitView();
    }
}

void TimelineWidget::resetZoom()
{
    if (m_map.isZoomed())
        setView(m_map.full, true);
}

void TimelineWidget::wheelEvent(QWheelEvent* e)
{
    if (!m_overview)
        return;
    const double steps = e->angleDelta().y() / 120.0;
    if (steps == 0)
        return;
    m_map.zoomAbout(e->position().x() - kLabelWidth, std::pow(1.25, steps));
    update();
    emitView();
    e->accept();
}

int TimelineWidget::trackAt(QPoint pos) const
{
    for (const auto& t : m_tracks)
        if (pos.y() >= t.rect.top() - 3 && pos.y() <= t.rect.bottom() + 3)
            return t.space;
    return -1;
}

void TimelineWidget::mousePressEvent(QMouseEvent* e)
{
    if (!m_overview)
        return;
    m_pressPos = e->pos();
    m_pressView = m_map.view;
    m_dragging = false;
    m_selectingRange = e->button() == Qt::RightButton || (e->modifiers() & Qt::ShiftModifier);
    m_rangeAnchor = m_map.mapXToTime(e->pos().x() - kLabelWidth);
}

void TimelineWidget::mouseMoveEvent(QMouseEvent* e)
{
    m_hoverPos = e->pos();
    if (e->buttons() != Qt::NoButton && m_overview) {
        if (!m_dragging && (e->pos() - m_pressPos).manhattanLength() > 3)
            m_dragging = true;
        if (m_dragging && m_selectingRange) {
            auto t = m_map.mapXToTime(std::clamp(e->pos().x() - kLabelWidth, 0, plotWidth()));
            int space = trackAt(m_pressPos);
            Selection s { true, true, std::min(t, m_rangeAnchor), std::max(t, m_rangeAnchor),
                space >= 0 ? m_overview->spaces[space].id : m_selection.spaceId };
            m_selection = s; // shown while dragging; requested on release
        } else if (m_dragging) {
            m_map.setView(m_pressView);
            m_map.panByPixels(e->pos().x() - m_pressPos.x());
            emitView();
        }
        update();
        return;
    }
    update();
    if (m_overview && trackAt(e->pos()) >= 0 && e->pos().x() >= kLabelWidth) {
        int space = trackAt(e->pos());
        emit hoverRequested(m_map.mapXToTime(e->pos().x() - kLabelWidth), m_overview->spaces[space].id);
    }
    QToolTip::showText(e->globalPosition().toPoint(), hoverText(e->pos()), this);
}

void TimelineWidget::mouseReleaseEvent(QMouseEvent* e)
{
    if (!m_overview)
        return;
    if (m_dragging && m_selectingRange) {
        if (m_selection.t1 > m_selection.t0)
            emit selectionRequested(m_selection);
    } else if (!m_dragging && e->pos().x() >= kLabelWidth) {
        int space = trackAt(e->pos());
        auto t = m_map.mapXToTime(e->pos().x() - kLabelWidth);
        Selection s { true, false, t, t, space >= 0 ? m_overview->spaces[space].id : m_selection.spaceId };
        if (s.spaceId == 0 && !m_overview->spaces.empty())
            s.spaceId = m_overview->spaces.front().id;
        emit selectionRequested(s);
    }
    m_dragging = false;
    m_selectingRange = false;
}

void TimelineWidget::leaveEvent(QEvent*)
{
    m_hoverPos = QPoint(-1, -1);
    update();
}

void TimelineWidget::keyPressEvent(QKeyEvent* e)
{
    switch (e->key()) {
    case Qt::Key_Z:
        zoomToSelection();
        break;
    case Qt::Key_Backspace:
        back();
        break;
    case Qt::Key_0:
        resetZoom();
        break;
    case Qt::Key_Plus:
    case Qt::Key_Equal:
        m_map.zoomAbout(plotWidth() / 2.0, 1.5);
        update();
        emitView();
        break;
    case Qt::Key_Minus:
        m_map.zoomAbout(plotWidth() / 2.0, 1 / 1.5);
        update();
        emitView();
        break;
    default:
        QWidget::keyPressEvent(e);
    }
}

QString TimelineWidget::hoverText(QPoint pos) const
{
    if (!m_overview || pos.x() < kLabelWidth)
        return {};
    const auto start = m_overview->summary.startNs;
    const auto t = m_map.mapXToTime(pos.x() - kLabelWidth);
    QString text = QStringLiteral("<b>%1</b>").arg(formatOffset(t - start, m_map.view.duration()));
    int space = trackAt(pos);
    if (space >= 0) {
        const auto& tl = timelineOf(space);
        const auto& info = m_overview->spaces[space];
        auto it = std::upper_bound(tl.buckets.begin(), tl.buckets.end(), t,
            [](analysis::TimeNs v, const analysis::TimelineBucket& b) { return v < b.startNs; });
        if (it != tl.buckets.begin()) {
            const auto& b = *(it - 1);
            text += QStringLiteral("<br>%1: ").arg(QString::fromStdString(info.name));
            if (m_exact.t == t && m_exact.spaceId == info.id)
                text += QStringLiteral("<b>%1</b> live (exact)").arg(formatBytes(m_exact.bytes));
            else
                text += QStringLiteral("%1 live").arg(formatBytes(b.lastLiveBytes));
            if (b.minLiveBytes != b.maxLiveBytes)
                text += QStringLiteral("<br>this pixel: %1 – %2")
                            .arg(formatBytes(b.minLiveBytes), formatBytes(b.maxLiveBytes));
            if (tl.hasReserved)
                text += QStringLiteral("<br>reserved: %1").arg(formatBytes(b.reservedLastBytes));
            text += QStringLiteral("<br>%1 allocs, %2 frees in this pixel").arg(b.allocs).arg(b.frees);
        }
        if (space < static_cast<int>(m_stacked.size()) && m_stacked[space]) {
            const auto& st = *m_stacked[space];
            if (t >= st.t0 && t < st.t1) {
                int c = static_cast<int>((static_cast<double>(t - st.t0) / (st.t1 - st.t0)) * st.columns);
                c = std::clamp(c, 0, st.columns - 1);
                for (size_t g = 0; g < st.groups.size(); ++g)
                    if (st.at(c, static_cast<int>(g)) > 0)
                        text += QStringLiteral("<br>&nbsp;&nbsp;%1: %2")
                                    .arg(QString::fromStdString(st.groups[g].label).toHtmlEscaped().left(70),
                                        formatBytes(st.at(c, static_cast<int>(g))));
            }
        }
    } else if (m_laneRect.contains(pos)) {
        for (const auto& r : m_lanes.ranges)
            if (t >= r.startNs && t < r.endNs
                && (pos.y() - m_laneRect.top()) / kLaneRow == static_cast<int>(std::min<int64_t>(r.depth, 5)))
                return text
                    + QStringLiteral("<br>%1 (%2)")
                          .arg(QString::fromStdString(r.path).toHtmlEscaped(), formatDuration(r.endNs - r.startNs));
    }
    return text;
}

} // namespace tidemark::gui
