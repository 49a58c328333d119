// Flat table models of the panes: breakdown rows (live set or window activity by site), the frames
// of one stack, the heaps of a pool's segment map, and the rows of a diff. Each exposes the raw
// numbers under RawRole so sorting and tests never parse formatted text.
#pragma once

#include "analysis/types.h"
#include "gui/lib/diff.h"

#include <QAbstractTableModel>

#include <vector>

namespace tidemark::gui {

enum ModelRole {
    RawRole = Qt::UserRole + 1, // the number behind a formatted cell (qint64 or double)
    KeyRole, // stable grouping key of the row
    CallsiteRole, // a representative leaf callsite (qint64, 0 = none)
};

class BreakdownModel : public QAbstractTableModel {
    Q_OBJECT
public:
    enum Column { Label, Bytes, Count, Share, ColumnCount };
    using QAbstractTableModel::QAbstractTableModel;
    void setRows(std::vector<analysis::BreakdownRow> rows);
    void setGroupTitle(const QString& title); // header of the first column ("Site", "Phase")
    const std::vector<analysis::BreakdownRow>& rows() const { return m_rows; }
    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role) const override;

private:
    std::vector<analysis::BreakdownRow> m_rows;
    QString m_groupTitle = QStringLiteral("Site");
};

class StackModel : public QAbstractTableModel {
    Q_OBJECT
public:
    enum Column { Function, Source, Module, ColumnCount };
    using QAbstractTableModel::QAbstractTableModel;
    // Frames outermost first, as Recording::stack() returns them; shown innermost (allocating) first.
    void setFrames(std::vector<analysis::Location> frames);
    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role) const override;

private:
    std::vector<analysis::Location> m_frames; // innermost first
};

class HeapModel : public QAbstractTableModel {
    Q_OBJECT
public:
    enum Column { Heap, Size, Used, Free, LargestFree, Fragmentation, Blocks, ColumnCount };
    using QAbstractTableModel::QAbstractTableModel;
    void setMap(const analysis::SegmentMap& map);
    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role) const override;

private:
    std::vector<analysis::HeapMap> m_heaps; // blocks dropped: the widget paints them
    std::vector<int> m_blockCounts;
};

class DiffModel : public QAbstractTableModel {
    Q_OBJECT
public:
    enum Column { Space, Measure, Label, Before, After, Delta, ColumnCount };
    using QAbstractTableModel::QAbstractTableModel;
    void setDiff(const RecordingDiff& diff);
    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role) const override;

private:
    std::vector<DiffRow> m_rows;
};

} // namespace tidemark::gui
