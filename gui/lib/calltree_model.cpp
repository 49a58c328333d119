// CallTreeModel (see calltree_model.h): node indices of the CallTree are the internal ids.
#include "gui/lib/calltree_model.h"

#include "gui/lib/format.h"
#include "gui/lib/table_models.h"

namespace tidemark::gui {

void CallTreeModel::setTree(analysis::CallTree tree)
{
    beginResetModel();
    m_tree = std::move(tree);
    endResetModel();
}

int CallTreeModel::nodeOf(const QModelIndex& index) const
{
    if (!index.isValid())
        return m_tree.nodes.empty() ? -1 : 0;
    return static_cast<int>(index.internalId());
}

QModelIndex CallTreeModel::indexOfNode(int node, int column) const
{
    if (node <= 0 || node >= static_cast<int>(m_tree.nodes.size()))
        return {};
    const auto& parentNode = m_tree.nodes[m_tree.nodes[node].parent];
    for (size_t row = 0; row < parentNode.children.size(); ++row)
        if (parentNode.children[row] == node)
            return createIndex(static_cast<int>(row), column, static_cast<quintptr>(node));
    return {};
}

QModelIndex CallTreeModel::index(int row, int column, const QModelIndex& parent) const
{
    if (row < 0 || column < 0 || column >= ColumnCount || m_tree.nodes.empty())
        return {};
    if (parent.isValid() && parent.column() != 0)
        return {};
    int p = nodeOf(parent);
    if (p < 0)
        return {};
    const auto& children = m_tree.nodes[p].children;
    if (row >= static_cast<int>(children.size()))
        return {};
    return createIndex(row, column, static_cast<quintptr>(children[row]));
}

QModelIndex CallTreeModel::parent(const QModelIndex& child) const
{
    if (!child.isValid())
        return {};
    int node = nodeOf(child);
    int p = m_tree.nodes[node].parent;
    if (p <= 0)
        return {};
    return indexOfNode(p, 0);
}

int CallTreeModel::rowCount(const QModelIndex& parent) const
{
    if (parent.isValid() && parent.column() != 0)
        return 0;
    int p = nodeOf(parent);
    return p < 0 ? 0 : static_cast<int>(m_tree.nodes[p].children.size());
}

int CallTreeModel::columnCount(const QModelIndex&) const
{
    return ColumnCount;
}

QString CallTreeModel::formatWeight(int64_t v) const
{
    return m_tree.weight == analysis::TreeWeight::AllocationCount ? formatCount(v) : formatBytes(v);
}

QVariant CallTreeModel::data(const QModelIndex& index, int role) const
{
    if (!checkIndex(index, CheckIndexOption::IndexIsValid))
        return {};
    const auto& n = m_tree.nodes[nodeOf(index)];
    const int64_t all = m_tree.nodes[0].total;
    if (role == CallsiteRole)
        return QVariant::fromValue<qint64>(n.callsiteId);
    if (role == KeyRole)
        return QString::fromStdString(n.label);
    if (role == Qt::TextAlignmentRole && index.column() != Location)
        return int(Qt::AlignRight | Qt::AlignVCenter);
    if (role == Qt::ToolTipRole)
        return QStringLiteral("%1\nmodule: %2")
            .arg(QString::fromStdString(n.label), QString::fromStdString(n.location.module));
    const bool display = role == Qt::DisplayRole;
    if (!display && role != RawRole)
        return {};
    switch (index.column()) {
    case Location:
        return QString::fromStdString(n.label);
    case Total:
        return display ? QVariant(formatWeight(n.total)) : QVariant::fromValue<qint64>(n.total);
    case Self:
        return display ? QVariant(formatWeight(n.self)) : QVariant::fromValue<qint64>(n.self);
    case Share: {
        double share = all > 0 ? static_cast<double>(n.total) / static_cast<double>(all) : 0.0;
        return display ? QVariant(formatPercent(share)) : QVariant(share);
    }
    }
    return {};
}

QVariant CallTreeModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole)
        return {};
    switch (section) {
    case Location:
        return QStringLiteral("Location");
    case Total:
        return QStringLiteral("Total");
    case Self:
        return QStringLiteral("Self");
    case Share:
        return QStringLiteral("Share");
    }
    return {};
}

} // namespace tidemark::gui
