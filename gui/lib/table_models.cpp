// Flat table models (see table_models.h).
#include "gui/lib/table_models.h"

#include "gui/lib/format.h"

#include <QFont>

#include <algorithm>
#include <cmath>

namespace tidemark::gui {

namespace {

    QVariant header(Qt::Orientation o, int role, int section, std::initializer_list<const char*> names)
    {
        if (o != Qt::Horizontal || role != Qt::DisplayRole || section < 0 || section >= static_cast<int>(names.size()))
            return {};
        return QString::fromUtf8(*(names.begin() + section));
    }

    QVariant alignRight(int role)
    {
        return role == Qt::TextAlignmentRole ? QVariant(int(Qt::AlignRight | Qt::AlignVCenter)) : QVariant();
    }

    QString hex(int64_t v)
    {
        return QStringLiteral("0x") + QString::number(static_cast<qulonglong>(v), 16);
    }

} // namespace

// ---- BreakdownModel -------------------------------------------------------------------------

void BreakdownModel::setRows(std::vector<analysis::BreakdownRow> rows)
{
    beginResetModel();
    m_rows = std::move(rows);
    endResetModel();
}

int BreakdownModel::rowCount(const QModelIndex& parent) const
{
    return parent.isValid() ? 0 : static_cast<int>(m_rows.size());
}

int BreakdownModel::columnCount(const QModelIndex& parent) const
{
    return parent.isValid() ? 0 : ColumnCount;
}

QVariant BreakdownModel::data(const QModelIndex& index, int role) const
{
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid))
        return {};
    const auto& r = m_rows[index.row()];
    if (role == KeyRole)
        return QString::fromStdString(r.key);
    if (role == CallsiteRole)
        return QVariant::fromValue<qint64>(r.exampleCallsiteId);
    if (index.column() != Label && role == Qt::TextAlignmentRole)
        return alignRight(role);
    switch (index.column()) {
    case Label:
        if (role == Qt::DisplayRole || role == RawRole)
            return QString::fromStdString(r.label);
        if (role == Qt::ToolTipRole)
            return QString::fromStdString(r.label + "\n" + r.key);
        break;
    case Bytes:
        if (role == Qt::DisplayRole)
            return formatBytes(r.bytes);
        if (role == RawRole)
            return QVariant::fromValue<qint64>(r.bytes);
        break;
    case Count:
        if (role == Qt::DisplayRole)
            return formatCount(r.count);
        if (role == RawRole)
            return QVariant::fromValue<qint64>(r.count);
        break;
    case Share:
        if (role == Qt::DisplayRole)
            return formatPercent(r.share);
        if (role == RawRole)
            return r.share;
        break;
    }
    return {};
}

void BreakdownModel::setGroupTitle(const QString& title)
{
    m_groupTitle = title;
    emit headerDataChanged(Qt::Horizontal, Label, Label);
}

QVariant BreakdownModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (section == Label && orientation == Qt::Horizontal && role == Qt::DisplayRole)
        return m_groupTitle;
    return header(orientation, role, section, { "Site", "Bytes", "Count", "Share" });
}

// ---- StackModel -----------------------------------------------------------------------------

void StackModel::setFrames(std::vector<analysis::Location> frames)
{
    beginResetModel();
    m_frames = std::move(frames);
    std::reverse(m_frames.begin(), m_frames.end());
    endResetModel();
}

int StackModel::rowCount(const QModelIndex& parent) const
{
    return parent.isValid() ? 0 : static_cast<int>(m_frames.size());
}

int StackModel::columnCount(const QModelIndex& parent) const
{
    return parent.isValid() ? 0 : ColumnCount;
}

QVariant StackModel::data(const QModelIndex& index, int role) const
{
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid))
        return {};
    const auto& f = m_frames[index.row()];
    if (role != Qt::DisplayRole && role != RawRole && role != Qt::ToolTipRole)
        return {};
    switch (index.column()) {
    case Function:
        return QString::fromStdString(f.function) + (f.inlined ? QStringLiteral(" (inlined)") : QString());
    case Source:
        return f.file.empty() ? QString() : QStringLiteral("%1:%2").arg(QString::fromStdString(f.file)).arg(f.line);
    case Module:
        return QString::fromStdString(f.module);
    }
    return {};
}

QVariant StackModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    return header(orientation, role, section, { "Function", "Source", "Module" });
}

// ---- HeapModel ------------------------------------------------------------------------------

void HeapModel::setMap(const analysis::SegmentMap& map)
{
    beginResetModel();
    m_heaps.clear();
    m_blockCounts.clear();
    for (const auto& h : map.heaps) {
        analysis::HeapMap copy = h;
        m_blockCounts.push_back(static_cast<int>(copy.blocks.size()));
        copy.blocks.clear();
        copy.free.clear();
        m_heaps.push_back(std::move(copy));
    }
    endResetModel();
}

int HeapModel::rowCount(const QModelIndex& parent) const
{
    return parent.isValid() ? 0 : static_cast<int>(m_heaps.size());
}

int HeapModel::columnCount(const QModelIndex& parent) const
{
    return parent.isValid() ? 0 : ColumnCount;
}

QVariant HeapModel::data(const QModelIndex& index, int role) const
{
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid))
        return {};
    const auto& h = m_heaps[index.row()];
    if (index.column() != Heap && role == Qt::TextAlignmentRole)
        return alignRight(role);
    const bool display = role == Qt::DisplayRole;
    if (!display && role != RawRole)
        return {};
    auto bytes = [&](int64_t v) { return display ? QVariant(formatBytes(v)) : QVariant::fromValue<qint64>(v); };
    switch (index.column()) {
    case Heap:
        if (!display)
            return QVariant::fromValue<qint64>(h.heapId);
        return (h.name.empty() ? QString() : QString::fromStdString(h.name) + QLatin1Char(' ')) + hex(h.address);
    case Size:
        return bytes(h.sizeBytes);
    case Used:
        return bytes(h.usedBytes);
    case Free:
        return bytes(h.freeBytes);
    case LargestFree:
        return bytes(h.largestFreeBytes);
    case Fragmentation:
        return display ? QVariant(formatPercent(h.fragmentation)) : QVariant(h.fragmentation);
    case Blocks:
        return display ? QVariant(formatCount(m_blockCounts[index.row()])) : QVariant(m_blockCounts[index.row()]);
    }
    return {};
}

QVariant HeapModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    return header(
        orientation, role, section, { "Segment", "Size", "Used", "Free", "Largest free", "Fragmentation", "Blocks" });
}

// ---- DiffModel ------------------------------------------------------------------------------

void DiffModel::setDiff(const RecordingDiff& diff)
{
    beginResetModel();
    m_rows = diff.rows;
    endResetModel();
}

int DiffModel::rowCount(const QModelIndex& parent) const
{
    return parent.isValid() ? 0 : static_cast<int>(m_rows.size());
}

int DiffModel::columnCount(const QModelIndex& parent) const
{
    return parent.isValid() ? 0 : ColumnCount;
}

QVariant DiffModel::data(const QModelIndex& index, int role) const
{
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid))
        return {};
    const auto& r = m_rows[index.row()];
    if (role == KeyRole)
        return QString::fromStdString(r.key);
    if (index.column() >= Before && role == Qt::TextAlignmentRole)
        return alignRight(role);
    if (role == Qt::ForegroundRole && index.column() == Delta && r.delta() != 0)
        return QColor(r.delta() > 0 ? 0xb22222 : 0x1f7a1f);
    if (role == Qt::FontRole && r.measure == "total") {
        QFont f;
        f.setBold(true);
        return f;
    }
    const bool display = role == Qt::DisplayRole;
    if (!display && role != RawRole)
        return {};
    const QString unit = r.unit == "bytes/step" ? QStringLiteral("/step") : QString();
    auto amount = [&](double v) {
        return display ? QVariant(formatBytes(static_cast<int64_t>(std::llround(v))) + unit) : QVariant(v);
    };
    switch (index.column()) {
    case Space:
        return QString::fromStdString(r.space);
    case Measure:
        return QString::fromStdString(r.measure);
    case Label:
        return QString::fromStdString(r.label);
    case Before:
        return amount(r.before);
    case After:
        return amount(r.after);
    case Delta:
        if (!display)
            return r.delta();
        return (r.delta() > 0          ? QStringLiteral("+")
                       : r.delta() < 0 ? QStringLiteral("−")
                                       : QString())
            + formatBytes(static_cast<int64_t>(std::llround(std::abs(r.delta())))) + unit;
    }
    return {};
}

QVariant DiffModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    return header(orientation, role, section, { "Space", "Measure", "Site / phase", "Before", "After", "Change" });
}

} // namespace tidemark::gui
