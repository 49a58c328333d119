// Flame graph of a CallTree (callers at the bottom, allocation sites on top): box width is the share
// of the weight. Click a box to focus on its subtree, click the bottom bar (or press Backspace) to go
// back out; hover shows the exact weight.
#pragma once

#include "analysis/types.h"
#include "gui/lib/flame_layout.h"

#include <QWidget>

namespace tidemark::gui {

class FlameWidget : public QWidget {
    Q_OBJECT
public:
    explicit FlameWidget(QWidget* parent = nullptr);
    void setTree(analysis::CallTree tree, const QString& caption);
    int focus() const { return m_focus; }

signals:
    void nodeClicked(int node);

protected:
    void paintEvent(QPaintEvent*) override;
    void mouseMoveEvent(QMouseEvent*) override;
    void mousePressEvent(QMouseEvent*) override;
    void keyPressEvent(QKeyEvent*) override;

private:
    static constexpr int kRow = 18;
    int boxAt(QPoint pos) const;
    QRectF boxRect(const FlameBox& b) const;
    QString weightText(int64_t v) const;
    void setFocusNode(int node);

    analysis::CallTree m_tree;
    QString m_caption;
    int m_focus = 0;
    std::vector<FlameBox> m_boxes;
};

} // namespace tidemark::gui
