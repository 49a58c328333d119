// FlameWidget painting and interaction (see flame_widget.h).
#include "gui/app/flame_widget.h"

#include "gui/lib/format.h"

#include <QKeyEvent>
#include <QMouseEvent>
#include <QPainter>
#include <QToolTip>

namespace tidemark::gui {

FlameWidget::FlameWidget(QWidget* parent)
    : QWidget(parent)
{
    setMouseTracking(true);
    setFocusPolicy(Qt::StrongFocus);
    setMinimumHeight(120);
}

void FlameWidget::setTree(analysis::CallTree tree, const QString& caption)
{
    m_tree = std::move(tree);
    m_caption = caption;
    setFocusNode(0);
}

void FlameWidget::setFocusNode(int node)
{
    m_focus = node;
    m_boxes = layoutFlame(m_tree, m_focus, 0.5 / std::max(1, width()));
    update();
}

QString FlameWidget::weightText(int64_t v) const
{
    return m_tree.weight == analysis::TreeWeight::AllocationCount ? formatCount(v) + tr(" allocations")
                                                                  : formatBytes(v);
}

QRectF FlameWidget::boxRect(const FlameBox& b) const
{
    const double w = width() - 2;
    const double y = height() - 4 - (b.depth + 1) * kRow;
    return QRectF(1 + b.x0 * w, y, (b.x1 - b.x0) * w, kRow - 1);
}

void FlameWidget::paintEvent(QPaintEvent*)
{
    QPainter p(this);
    p.fillRect(rect(), Qt::white);
    p.setPen(QColor(0x444444));
    p.drawText(rect().adjusted(6, 4, -6, 0), Qt::AlignTop | Qt::AlignLeft, m_caption);
    if (m_boxes.empty()) {
        p.drawText(rect(), Qt::AlignCenter, tr("Nothing to show for this selection and weight"));
        return;
    }
    const auto& nodes = m_tree.nodes;
    for (const auto& b : m_boxes) {
        QRectF r = boxRect(b);
        if (r.bottom() < 20)
            continue;
        const auto& n = nodes[b.node];
        QColor c;
        if (b.node == 0)
            c = QColor(0xc8ccd4);
        else {
            // Warm flame colours keyed by function, so one function keeps its colour everywhere.
            size_t h = qHash(QString::fromStdString(n.location.function));
            c = QColor::fromHsv(static_cast<int>(10 + h % 40), 120 + static_cast<int>(h / 40 % 80), 235);
        }
        p.fillRect(r, c);
        if (r.width() > 28) {
            p.setPen(QColor(0x1a1a1a));
            QString label
                = b.node == 0 ? tr("all: %1").arg(weightText(n.total)) : QString::fromStdString(n.location.function);
            p.drawText(r.adjusted(3, 0, -2, 0), Qt::AlignVCenter | Qt::AlignLeft,
                p.fontMetrics().elidedText(label, Qt::ElideRight, static_cast<int>(r.width()) - 5));
        }
    }
}

int FlameWidget::boxAt(QPoint pos) const
{
    const int depth = (height() - 4 - pos.y()) / kRow;
    const double fraction = (pos.x() - 1) / static_cast<double>(width() - 2);
    return flameBoxAt(m_boxes, fraction, depth);
}

void FlameWidget::mouseMoveEvent(QMouseEvent* e)
{
    int i = boxAt(e->pos());
    if (i < 0) {
        QToolTip::hideText();
        return;
    }
    const auto& n = m_tree.nodes[m_boxes[i].node];
    const double share = m_tree.nodes[0].total > 0 ? static_cast<double>(n.total) / m_tree.nodes[0].total : 0;
    QToolTip::showText(e->globalPosition().toPoint(),
        tr("<b>%1</b><br>total %2 (%3 of all), self %4<br>%5")
            .arg(QString::fromStdString(n.location.function).toHtmlEscaped(), weightText(n.total), formatPercent(share),
                weightText(n.self), QString::fromStdString(n.label).toHtmlEscaped()),
        this);
}

void FlameWidget::mousePressEvent(QMouseEvent* e)
{
    int i = boxAt(e->pos());
    if (i < 0)
        return;
    int node = m_boxes[i].node;
    if (node == m_focus)
        setFocusNode(node == 0 ? 0 : m_tree.nodes[node].parent);
    else
        setFocusNode(node);
    emit nodeClicked(node);
}

void FlameWidget::keyPressEvent(QKeyEvent* e)
{
    if (e->key() == Qt::Key_Backspace && m_focus > 0)
        setFocusNode(m_tree.nodes[m_focus].parent);
    else
        QWidget::keyPressEvent(e);
}

} // namespace tidemark::gui
