// TimelineWidget painting: axis, memory tracks (stacked groups under the exact envelope, reserved
// bytes, the peak), lanes and the selection. Everything drawn comes from data already in memory, so a
// repaint never waits on a query; zooming re-maps the previous data until the new view arrives.
#include "gui/app/timeline_widget.h"

#include "analysis/recording.h"
#include "gui/lib/format.h"

#include <QPainter>
#include <QPainterPath>

#include <algorithm>
#include <cmath>

namespace tidemark::gui {

namespace {

    const QColor kSpaceColor(0x4e79a7);
    const QColor kReservedColor(0x9c755f);
    const QColor kPeakColor(0xd62728);
    const QColor kSelectionColor(0x1f5fbf);
    const QColor kLabelBackground(0xf3f4f6);

    // A "nice" tick step (1, 2 or 5 times a power of ten) giving at least minPx between ticks.
    double tickStep(double nsPerPixel, int minPx)
    {
        double raw = nsPerPixel * minPx;
        double p = std::pow(10.0, std::floor(std::log10(std::max(raw, 1.0))));
        for (double m : { 1.0, 2.0, 5.0, 10.0 })
            if (m * p >= raw)
                return m * p;
        return 10 * p;
    }

} // namespace

void TimelineWidget::paintEvent(QPaintEvent*)
{
    QPainter p(this);
    p.fillRect(rect(), Qt::white);
    if (!m_overview) {
        p.setPen(QColor(0x666666));
        p.drawText(rect(), Qt::AlignCenter,
            tr("Open a recording: File > Open, drag a .tmdb file here, or run `tidemark gui run.tmdb`"));
        return;
    }
    p.fillRect(QRect(0, 0, kLabelWidth - 4, height()), kLabelBackground);
    paintAxis(p);
    for (const auto& t : m_tracks)
        paintTrack(p, t);
    paintLanes(p);
    paintSelection(p);
    if (m_hoverPos.x() >= kLabelWidth && !m_dragging) {
        p.setPen(QPen(QColor(0, 0, 0, 90), 1, Qt::DotLine));
        p.drawLine(m_hoverPos.x(), kAxisHeight, m_hoverPos.x(), height());
    }
}

void TimelineWidget::paintAxis(QPainter& p)
{
    const auto start = m_overview->summary.startNs;
    const double step = tickStep(m_map.nsPerPixel(), 110);
    p.setPen(QColor(0x333333));
    QFont f = font();
    f.setPointSizeF(f.pointSizeF() * 0.9);
    p.setFont(f);
    p.drawText(QRect(6, 0, kLabelWidth - 12, kAxisHeight), Qt::AlignVCenter | Qt::AlignLeft, tr("time since start"));
    double first = std::ceil((m_map.view.t0 - start) / step) * step;
    for (double off = first; start + off <= m_map.view.t1; off += step) {
        double x = kLabelWidth + m_map.mapTimeToX(start + static_cast<analysis::TimeNs>(off));
        p.setPen(QColor(0xdddddd));
        p.drawLine(QPointF(x, kAxisHeight), QPointF(x, height()));
        p.setPen(QColor(0x333333));
        p.drawLine(QPointF(x, kAxisHeight - 5), QPointF(x, kAxisHeight));
        p.drawText(QRectF(x + 3, 0, 120, kAxisHeight - 2), Qt::AlignVCenter | Qt::AlignLeft,
            formatOffset(static_cast<analysis::TimeNs>(off), static_cast<analysis::TimeNs>(step)));
    }
    p.setPen(QColor(0xbbbbbb));
    p.drawLine(kLabelWidth, kAxisHeight, width(), kAxisHeight);
}

void TimelineWidget::paintTrack(QPainter& p, const Track& t)
{
    const auto& tl = timelineOf(t.space);
    const auto& info = m_overview->spaces[t.space];
    const analysis::StackedTimeline* st = nullptr;
    if (t.space < static_cast<int>(m_stacked.size()) && m_stacked[t.space])
        st = &*m_stacked[t.space];
    int64_t maxBytes = 1;
    for (const auto& b : tl.buckets)
        if (b.endNs > m_map.view.t0 && b.startNs < m_map.view.t1)
            maxBytes = std::max({ maxBytes, b.maxLiveBytes, tl.hasReserved ? b.reservedMaxBytes : 0 });
    const double scale = t.rect.height() * 0.9 / static_cast<double>(maxBytes);

    p.save();
    p.setClipRect(t.rect.adjusted(0, -1, 0, 1));
    p.fillRect(t.rect, QColor(0xfcfcfd));
    p.setPen(QColor(0xeeeeee));
    for (double frac : { 0.5, 1.0 }) {
        int y = t.rect.bottom() - static_cast<int>(maxBytes * frac * scale);
        p.drawLine(t.rect.left(), y, t.rect.right(), y);
    }
    if (st)
        paintStacked(p, t, *st, scale);
    paintEnvelope(p, t, tl, scale, st == nullptr);
    // The peak: a dashed red line and its value.
    const auto peakNs = m_overview->peakNs[t.space];
    if (peakNs >= m_map.view.t0 && peakNs <= m_map.view.t1) {
        double x = t.rect.left() + m_map.mapTimeToX(peakNs);
        p.setPen(QPen(kPeakColor, 1.5, Qt::DashLine));
        p.drawLine(QPointF(x, t.rect.top()), QPointF(x, t.rect.bottom()));
        QString label = tr("peak %1").arg(formatBytes(m_overview->peakBytes[t.space]));
        QRectF box(x + 4, t.rect.top() + 2, p.fontMetrics().horizontalAdvance(label) + 8, p.fontMetrics().height() + 2);
        if (box.right() > t.rect.right())
            box.moveRight(x - 4);
        p.fillRect(box, QColor(255, 255, 255, 220));
        p.setPen(kPeakColor);
        p.drawText(box, Qt::AlignCenter, label);
    }
    p.restore();
    p.setPen(QColor(0xcccccc));
    p.drawRect(t.rect.adjusted(0, 0, -1, 0));
    paintLegend(p, t, st, maxBytes);
    (void)info;
}

void TimelineWidget::paintStacked(QPainter& p, const Track& t, const analysis::StackedTimeline& st, double scale)
{
    const int g = static_cast<int>(st.groups.size());
    std::vector<double> base(st.columns, 0.0);
    auto xOf = [&](int c) {
        auto ts = st.t0 + static_cast<analysis::TimeNs>((static_cast<__int128>(st.t1 - st.t0) * c) / st.columns);
        return t.rect.left() + m_map.mapTimeToX(ts);
    };
    p.setPen(Qt::NoPen);
    for (int k = 0; k < g; ++k) {
        const bool other = k == g - 1 && st.groups[k].key.empty();
        QPolygonF poly;
        for (int c = 0; c < st.columns; ++c) {
            double y = t.rect.bottom() - (base[c] + st.at(c, k)) * scale;
            poly << QPointF(xOf(c), y) << QPointF(xOf(c + 1), y);
        }
        for (int c = st.columns - 1; c >= 0; --c) {
            double y = t.rect.bottom() - base[c] * scale;
            poly << QPointF(xOf(c + 1), y) << QPointF(xOf(c), y);
            base[c] += st.at(c, k);
        }
        p.setBrush(other ? otherColor() : groupColor(k));
        p.drawPolygon(poly);
    }
}

void TimelineWidget::paintEnvelope(QPainter& p, const Track& t, const analysis::Timeline& tl, double scale, bool filled)
{
    QPolygonF top;
    QPolygonF reserved;
    for (const auto& b : tl.buckets) {
        double x0 = t.rect.left() + m_map.mapTimeToX(b.startNs);
        double x1 = t.rect.left() + m_map.mapTimeToX(b.endNs);
        if (x1 < t.rect.left() - 2 || x0 > t.rect.right() + 2)
            continue;
        double y = t.rect.bottom() - b.maxLiveBytes * scale;
        top << QPointF(x0, y) << QPointF(x1, y);
        if (tl.hasReserved) {
            double yr = t.rect.bottom() - b.reservedMaxBytes * scale;
            reserved << QPointF(x0, yr) << QPointF(x1, yr);
        }
    }
    if (top.isEmpty())
        return;
    if (filled) {
        QPolygonF area = top;
        area << QPointF(top.last().x(), t.rect.bottom()) << QPointF(top.first().x(), t.rect.bottom());
        p.setPen(Qt::NoPen);
        QColor fill = kSpaceColor;
        fill.setAlpha(120);
        p.setBrush(fill);
        p.drawPolygon(area);
    }
    p.setBrush(Qt::NoBrush);
    p.setPen(QPen(filled ? kSpaceColor.darker(130) : QColor(0x222222), 1.2));
    p.drawPolyline(top);
    if (!reserved.isEmpty()) {
        p.setPen(QPen(kReservedColor, 1.2, Qt::DashLine));
        p.drawPolyline(reserved);
    }
}

void TimelineWidget::paintLegend(QPainter& p, const Track& t, const analysis::StackedTimeline* st, int64_t maxBytes)
{
    const auto& info = m_overview->spaces[t.space];
    QRect area(6, t.rect.top(), kLabelWidth - 16, t.rect.height());
    QFont bold = font();
    bold.setBold(true);
    p.setFont(bold);
    p.setPen(QColor(0x222222));
    p.drawText(area, Qt::AlignTop | Qt::AlignLeft, QString::fromStdString(info.name));
    QFont small = font();
    small.setPointSizeF(small.pointSizeF() * 0.85);
    p.setFont(small);
    const int lh = p.fontMetrics().height();
    int y = area.top() + lh + 2;
    p.setPen(QColor(0x555555));
    p.drawText(QRect(area.left(), y, area.width(), lh), Qt::AlignLeft,
        timelineOf(t.space).hasReserved ? tr("in use; dashed: reserved")
                                        : tr("live bytes (max %1)").arg(formatBytes(maxBytes)));
    y += lh + 2;
    if (!st)
        return;
    for (size_t k = 0; k < st->groups.size() && y + lh <= area.bottom(); ++k) {
        const bool other = k + 1 == st->groups.size() && st->groups[k].key.empty();
        p.fillRect(QRect(area.left(), y + 2, 9, lh - 4), other ? otherColor() : groupColor(static_cast<int>(k)));
        p.setPen(QColor(0x333333));
        QString label = p.fontMetrics().elidedText(
            QString::fromStdString(st->groups[k].label), Qt::ElideMiddle, area.width() - 14);
        p.drawText(QRect(area.left() + 13, y, area.width() - 13, lh), Qt::AlignLeft | Qt::AlignVCenter, label);
        y += lh;
    }
    p.setFont(font());
}

void TimelineWidget::paintLanes(QPainter& p)
{
    const auto& s = m_overview->summary;
    const bool counted = m_overview->summaryComplete; // "none recorded" only once the counts are known
    const int depth = rangeDepth();
    QFont small = font();
    small.setPointSizeF(small.pointSizeF() * 0.85);
    p.setFont(small);
    auto label = [&](int row, int y, const QString& text) {
        (void)row;
        p.setPen(QColor(0x333333));
        p.drawText(QRect(6, y, kLabelWidth - 16, kLaneRow), Qt::AlignLeft | Qt::AlignVCenter, text);
    };
    auto none = [&](int y, const QString& text) {
        p.setPen(QColor(0x999999));
        p.drawText(
            QRect(m_laneRect.left() + 4, y, m_laneRect.width(), kLaneRow), Qt::AlignLeft | Qt::AlignVCenter, text);
    };
    auto span = [&](analysis::TimeNs a, analysis::TimeNs b, int y) {
        double x0 = m_laneRect.left() + std::max(0.0, m_map.mapTimeToX(a));
        double x1 = m_laneRect.left() + std::min<double>(m_laneRect.width(), m_map.mapTimeToX(b));
        return QRectF(x0, y + 1, std::max(1.0, x1 - x0), kLaneRow - 2);
    };
    int y = m_laneRect.top();
    label(0, y, tr("NVTX ranges"));
    if (counted && s.ranges == 0)
        none(y, tr("none recorded"));
    for (const auto& r : m_lanes.ranges) {
        int row = static_cast<int>(std::min<int64_t>(r.depth, depth - 1));
        QRectF box = span(r.startNs, r.endNs, y + row * kLaneRow);
        QColor c = (r.color && *r.color != 0)
            ? QColor::fromRgb(static_cast<QRgb>(*r.color))
            : colorForKey(QString::fromStdString(analysis::normalizePhaseName(r.name)));
        c.setAlpha(255);
        p.fillRect(box, c.lighter(135));
        if (box.width() > 30) {
            p.setPen(QColor(0x111111));
            p.drawText(box.adjusted(2, 0, -2, 0), Qt::AlignLeft | Qt::AlignVCenter,
                p.fontMetrics().elidedText(
                    QString::fromStdString(r.name), Qt::ElideRight, static_cast<int>(box.width()) - 4));
        }
    }
    y += depth * kLaneRow + 4;
    label(1, y, tr("kernels"));
    if (counted && s.kernels == 0)
        none(y, tr("none recorded (no GPU activity in this recording)"));
    for (const auto& k : m_lanes.kernels)
        p.fillRect(span(k.startNs, k.endNs, y), QColor(0x59a14f));
    y += kLaneRow + 4;
    label(2, y, tr("copies / memsets"));
    if (counted && s.memcpys + s.memsets == 0)
        none(y, tr("none recorded"));
    for (const auto& c : m_lanes.copies)
        p.fillRect(span(c.startNs, c.endNs, y), c.kind == "memset" ? QColor(0xb07aa1) : QColor(0xf28e2b));
    y += kLaneRow + 4;
    label(3, y, tr("failed allocations"));
    if (counted && s.failedAllocations == 0)
        none(y, tr("none"));
    p.setPen(Qt::NoPen);
    p.setBrush(kPeakColor);
    for (const auto& f : m_lanes.failed) {
        double x = m_laneRect.left() + m_map.mapTimeToX(f.ts);
        QPolygonF tri;
        tri << QPointF(x, y + 1) << QPointF(x - 5, y + kLaneRow - 1) << QPointF(x + 5, y + kLaneRow - 1);
        p.drawPolygon(tri);
    }
    p.setFont(font());
}

void TimelineWidget::paintSelection(QPainter& p)
{
    if (!m_selection.valid)
        return;
    const int top = kAxisHeight;
    const int bottom = m_laneRect.bottom();
    double x0 = kLabelWidth + m_map.mapTimeToX(m_selection.t0);
    if (m_selection.range) {
        double x1 = kLabelWidth + m_map.mapTimeToX(m_selection.t1);
        QColor fill = kSelectionColor;
        fill.setAlpha(40);
        p.fillRect(QRectF(QPointF(x0, top), QPointF(x1, bottom)), fill);
        p.setPen(QPen(kSelectionColor, 1));
        p.drawLine(QPointF(x0, top), QPointF(x0, bottom));
        p.drawLine(QPointF(x1, top), QPointF(x1, bottom));
    } else if (x0 >= kLabelWidth) {
        p.setPen(QPen(kSelectionColor, 2));
        p.drawLine(QPointF(x0, top), QPointF(x0, bottom));
    }
}

} // namespace tidemark::gui
