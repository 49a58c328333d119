// Segment map of a pool at the selected time: one bar per heap (segment), its blocks coloured by
// phase (the timeline's colours), free extents hatched, and the pool's fragmentation figure (1 − largest free / total
// free).
#pragma once

#include "analysis/types.h"

#include <QWidget>

namespace tidemark::gui {

class SegmentWidget : public QWidget {
    Q_OBJECT
public:
    explicit SegmentWidget(QWidget* parent = nullptr);
    void setMap(analysis::SegmentMap map, const QString& caption);
    void setMessage(const QString& message);
    QSize sizeHint() const override { return { 600, 240 }; }

protected:
    void paintEvent(QPaintEvent*) override;
    void mouseMoveEvent(QMouseEvent*) override;

private:
    static constexpr int kBar = 22;
    static constexpr int kGap = 20;
    static constexpr int kTop = 60;
    QRectF barRect(int heap) const;
    QColor phaseColor(const std::string& phase) const;
    std::vector<std::string> m_phases; // by bytes in blocks
    analysis::SegmentMap m_map;
    QString m_caption;
    QString m_message;
};

} // namespace tidemark::gui
