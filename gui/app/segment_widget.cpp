// SegmentWidget painting and hover (see segment_widget.h). Heaps are drawn at a common bytes-per-pixel
// scale so a small segment looks small, blocks are coloured by phase, and each block at least 1 px wide so none
// disappears.
#include "gui/app/segment_widget.h"

#include "gui/lib/format.h"

#include <QMouseEvent>
#include <QPainter>
#include <QToolTip>

#include <algorithm>
#include <map>

namespace tidemark::gui {

SegmentWidget::SegmentWidget(QWidget* parent)
    : QWidget(parent)
{
    setMouseTracking(true);
}

QColor SegmentWidget::phaseColor(const std::string& phase) const
{
    auto it = std::find(m_phases.begin(), m_phases.end(), phase);
    int i = static_cast<int>(it - m_phases.begin());
    return i < 8 ? groupColor(i) : otherColor();
}

void SegmentWidget::setMap(analysis::SegmentMap map, const QString& caption)
{
    m_map = std::move(map);
    // Phases by bytes, so the biggest get the first (most distinct) colours, as on the timeline.
    std::map<std::string, int64_t> bytes;
    for (const auto& h : m_map.heaps)
        for (const auto& b : h.blocks)
            bytes[b.phase.empty() ? std::string("(no phase)") : b.phase] += b.sizeBytes;
    m_phases.clear();
    for (const auto& [k, v] : bytes)
        m_phases.push_back(k);
    std::sort(m_phases.begin(), m_phases.end(), [&](const auto& a, const auto& b) { return bytes[a] > bytes[b]; });
    for (auto& h : m_map.heaps)
        for (auto& b : h.blocks)
            if (b.phase.empty())
                b.phase = "(no phase)";
    m_caption = caption;
    m_message.clear();
    setMinimumHeight(kTop + static_cast<int>(m_map.heaps.size()) * (kBar + kGap) + 10);
    update();
}

void SegmentWidget::setMessage(const QString& message)
{
    m_map = {};
    m_message = message;
    setMinimumHeight(60);
    update();
}

QRectF SegmentWidget::barRect(int heap) const
{
    int64_t largest = 1;
    for (const auto& h : m_map.heaps)
        largest = std::max(largest, h.sizeBytes);
    const double w = (width() - 20) * static_cast<double>(m_map.heaps[heap].sizeBytes) / largest;
    return QRectF(10, kTop + heap * (kBar + kGap) + 14, std::max(2.0, w), kBar);
}

void SegmentWidget::paintEvent(QPaintEvent*)
{
    QPainter p(this);
    p.fillRect(rect(), Qt::white);
    p.setPen(QColor(0x333333));
    if (!m_message.isEmpty()) {
        p.drawText(rect().adjusted(10, 10, -10, -10), Qt::AlignTop | Qt::AlignLeft | Qt::TextWordWrap, m_message);
        return;
    }
    QFont bold = font();
    bold.setBold(true);
    p.setFont(bold);
    p.drawText(QRect(10, 4, width() - 20, 18), Qt::AlignLeft | Qt::AlignVCenter, m_caption);
    p.setFont(font());
    p.drawText(QRect(10, 22, width() - 20, 18), Qt::AlignLeft | Qt::AlignVCenter,
        tr("reserved %1 · used %2 · free %3 · largest free extent %4 · fragmentation %5")
            .arg(formatBytes(m_map.reservedBytes), formatBytes(m_map.usedBytes), formatBytes(m_map.freeBytes),
                formatBytes(m_map.largestFreeBytes), formatPercent(m_map.fragmentation)));
    // Legend: block colours are phases; hatched = free.
    int lx = 10;
    const int ly = 40;
    QBrush hatch(QColor(0xa0a0a0), Qt::BDiagPattern);
    for (size_t i = 0; i <= m_phases.size() && i <= 8; ++i) {
        const bool free = i == std::min<size_t>(m_phases.size(), 8);
        QString label = free ? tr("free") : QString::fromStdString(m_phases[i]);
        QRect sw(lx, ly + 3, 10, 10);
        if (free)
            p.fillRect(sw, hatch);
        else
            p.fillRect(sw, phaseColor(m_phases[i]));
        p.setPen(QColor(0x333333));
        p.drawText(QRect(lx + 14, ly, 400, 16), Qt::AlignLeft | Qt::AlignVCenter, label);
        lx += 24 + p.fontMetrics().horizontalAdvance(label);
        if (lx > width() - 120)
            break;
    }
    for (size_t i = 0; i < m_map.heaps.size(); ++i) {
        const auto& h = m_map.heaps[i];
        QRectF bar = barRect(static_cast<int>(i));
        const double perByte = bar.width() / std::max<int64_t>(1, h.sizeBytes);
        p.setPen(QColor(0x555555));
        p.drawText(QRectF(bar.left(), bar.top() - 15, width() - 20, 14), Qt::AlignLeft | Qt::AlignVCenter,
            tr("segment %1 · %2 · %3 blocks · free %4 · fragmentation %5")
                .arg(QString::fromStdString(h.name.empty() ? std::to_string(h.heapId) : h.name),
                    formatBytes(h.sizeBytes))
                .arg(h.blocks.size())
                .arg(formatBytes(h.freeBytes), formatPercent(h.fragmentation)));
        p.fillRect(bar, QColor(0xffffff));
        for (const auto& f : h.free)
            p.fillRect(
                QRectF(bar.left() + f.offset * perByte, bar.top(), std::max(1.0, f.sizeBytes * perByte), bar.height()),
                hatch);
        for (const auto& b : h.blocks) {
            QRectF r(bar.left() + b.offset * perByte, bar.top(), std::max(1.0, b.sizeBytes * perByte), bar.height());
            p.fillRect(r, phaseColor(b.phase));
            if (r.width() > 3) {
                p.setPen(QColor(255, 255, 255, 160));
                p.drawLine(r.topRight(), r.bottomRight());
            }
        }
        p.setPen(QColor(0x666666));
        p.setBrush(Qt::NoBrush);
        p.drawRect(bar);
    }
}

void SegmentWidget::mouseMoveEvent(QMouseEvent* e)
{
    for (size_t i = 0; i < m_map.heaps.size(); ++i) {
        QRectF bar = barRect(static_cast<int>(i));
        if (!bar.contains(e->position()))
            continue;
        const auto& h = m_map.heaps[i];
        const auto off = static_cast<int64_t>((e->position().x() - bar.left()) / bar.width() * h.sizeBytes);
        for (const auto& b : h.blocks)
            if (off >= b.offset && off < b.offset + b.sizeBytes) {
                QToolTip::showText(e->globalPosition().toPoint(),
                    tr("block of %1 at +%2<br>%3<br>%4 %5")
                        .arg(formatBytes(b.sizeBytes))
                        .arg(b.offset)
                        .arg(QString::fromStdString(b.site).toHtmlEscaped(), QString::fromStdString(b.phase),
                            QString::fromStdString(b.name)),
                    this);
                return;
            }
        for (const auto& f : h.free)
            if (off >= f.offset && off < f.offset + f.sizeBytes) {
                QToolTip::showText(e->globalPosition().toPoint(),
                    tr("free extent of %1 at +%2").arg(formatBytes(f.sizeBytes)).arg(f.offset), this);
                return;
            }
    }
    QToolTip::hideText();
}

} // namespace tidemark::gui
