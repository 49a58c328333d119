// The summary page as a tree model: recording facts, then per space its peak with the top
// contributors, leaks, growth, churn and fragmentation, failed allocations, capture coverage and the
// report's headlines. Every figure carries its report JSON path under KeyRole (e.g.
// "spaces/cuda:0/peak/bytes", spaces addressed by name) and its number under RawRole, so the page
// can be checked against `tidemark report --format json` figure by figure.
#pragma once

#include "analysis/report.h"

#include <QAbstractItemModel>

#include <memory>
#include <vector>

namespace tidemark::gui {

class SummaryModel : public QAbstractItemModel {
    Q_OBJECT
public:
    enum Column { Figure, Value, ColumnCount };
    explicit SummaryModel(QObject* parent = nullptr);
    ~SummaryModel() override;

    // Before the report is ready, the recording facts from the summary alone.
    void setSummary(const analysis::Summary& summary);
    void setReport(const analysis::Report& report);
    // Every row that has a key, depth first (for tests and for copying the page as text).
    QModelIndexList keyedIndexes() const;

    QModelIndex index(int row, int column, const QModelIndex& parent = {}) const override;
    QModelIndex parent(const QModelIndex& child) const override;
    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role) const override;

    struct Node;

private:
    void rebuild(const analysis::Summary& summary, const analysis::Report* report);
    Node* nodeOf(const QModelIndex& index) const;
    std::unique_ptr<Node> m_root;
};

} // namespace tidemark::gui
