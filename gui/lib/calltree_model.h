// Tree model over an analysis::CallTree (top-down or bottom-up): location, total, self and share of
// the whole, formatted as bytes or as a count depending on the tree's weight. The tree's root ("all")
// is not shown; its children are the top-level rows.
#pragma once

#include "analysis/types.h"

#include <QAbstractItemModel>

namespace tidemark::gui {

class CallTreeModel : public QAbstractItemModel {
    Q_OBJECT
public:
    enum Column { Location, Total, Self, Share, ColumnCount };
    using QAbstractItemModel::QAbstractItemModel;

    void setTree(analysis::CallTree tree);
    const analysis::CallTree& tree() const { return m_tree; }
    int nodeOf(const QModelIndex& index) const; // -1 for the invisible root
    QModelIndex indexOfNode(int node, int column = 0) const;

    QModelIndex index(int row, int column, const QModelIndex& parent = {}) const override;
    QModelIndex parent(const QModelIndex& child) const override;
    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role) const override;

private:
    QString formatWeight(int64_t v) const;
    analysis::CallTree m_tree;
};

} // namespace tidemark::gui
