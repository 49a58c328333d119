// SummaryModel (see summary_model.h): a small tree of figures built from the Summary and the Report.
#include "gui/lib/summary_model.h"

#include "gui/lib/format.h"
#include "gui/lib/table_models.h"

#include <QFont>

namespace tidemark::gui {

struct SummaryModel::Node {
    QString name;
    QString text; // formatted value
    QVariant raw; // the number or string behind text
    QString key; // report JSON path, "" for headings
    bool heading = false;
    Node* parent = nullptr;
    std::vector<std::unique_ptr<Node>> children;

    Node* add(QString n, QString t = {}, QVariant r = {}, QString k = {})
    {
        auto c = std::make_unique<Node>();
        c->name = std::move(n);
        c->text = std::move(t);
        c->raw = std::move(r);
        c->key = std::move(k);
        c->parent = this;
        children.push_back(std::move(c));
        return children.back().get();
    }
    Node* heading_(QString n, QString t = {})
    {
        Node* h = add(std::move(n), std::move(t));
        h->heading = true;
        return h;
    }
    Node* bytes(QString n, int64_t v, QString k)
    {
        return add(std::move(n), formatBytes(v), QVariant::fromValue<qint64>(v), std::move(k));
    }
    Node* count(QString n, int64_t v, QString k)
    {
        return add(std::move(n), formatCount(v), QVariant::fromValue<qint64>(v), std::move(k));
    }
    Node* str(QString n, const std::string& v, QString k)
    {
        return add(std::move(n), QString::fromStdString(v), QString::fromStdString(v), std::move(k));
    }
};

namespace {

    using Node = SummaryModel::Node;
    QString q(const std::string& s)
    {
        return QString::fromStdString(s);
    }

    void addRecording(Node* root, const analysis::Summary& s)
    {
        Node* r = root->heading_(QStringLiteral("Recording"), q(s.path));
        r->str(QStringLiteral("Program"), s.program, QStringLiteral("recording/program"));
        r->str(QStringLiteral("Command line"), s.commandLine, QStringLiteral("recording/command_line"));
        r->add(QStringLiteral("Duration"), formatDuration(s.durationNs), QVariant::fromValue<qint64>(s.durationNs),
            QStringLiteral("recording/duration_ns"));
        if (s.exitStatus)
            r->count(QStringLiteral("Exit status"), *s.exitStatus, QStringLiteral("recording/exit_status"));
        if (s.cutShort)
            r->str(QStringLiteral("Cut short"), s.cutShortDetail.empty() ? "yes" : s.cutShortDetail,
                QStringLiteral("recording/cut_short_detail"));
        r->count(QStringLiteral("Processes"), s.processes, QStringLiteral("recording/processes"));
        r->count(QStringLiteral("Threads"), s.threads, QStringLiteral("recording/threads"));
        r->count(QStringLiteral("Allocations"), s.allocations, QStringLiteral("recording/allocations"));
        r->count(QStringLiteral("Frees"), s.frees, QStringLiteral("recording/frees"));
        r->count(
            QStringLiteral("Failed allocations"), s.failedAllocations, QStringLiteral("recording/failed_allocations"));
        r->count(QStringLiteral("NVTX ranges"), s.ranges, QStringLiteral("recording/ranges"));
        r->count(QStringLiteral("Kernels"), s.kernels, QStringLiteral("recording/kernels"));
        r->count(QStringLiteral("Copies"), s.memcpys, QStringLiteral("recording/memcpys"));
        r->count(QStringLiteral("Memsets"), s.memsets, QStringLiteral("recording/memsets"));
    }

    void addRows(Node* parent, const QString& title, const std::vector<analysis::BreakdownRow>& rows,
        const QString& key, size_t top)
    {
        if (rows.empty())
            return;
        Node* h = parent->heading_(title);
        for (size_t i = 0; i < rows.size() && i < top; ++i) {
            Node* n = h->bytes(q(rows[i].label), rows[i].bytes, QStringLiteral("%1/%2/bytes").arg(key).arg(i));
            n->text += QStringLiteral("  (%1)").arg(formatPercent(rows[i].share));
        }
    }

    void addSpace(Node* root, const analysis::SpaceReport& sr, analysis::TimeNs start)
    {
        const auto& ss = sr.summary;
        const QString base = QStringLiteral("spaces/") + q(ss.space.name);
        Node* s = root->heading_(QStringLiteral("Space %1").arg(q(ss.space.name)), q(ss.space.kind));
        Node* peak = s->bytes(QStringLiteral("Peak"), sr.peak.bytes, base + QStringLiteral("/peak/bytes"));
        peak->text += QStringLiteral(" at %1").arg(formatOffset(sr.peak.ts - start, ss.peakNs - start + 1));
        peak->add(QStringLiteral("Time of peak"), formatDuration(sr.peak.ts - start),
            QVariant::fromValue<qint64>(sr.peak.ts - start), base + QStringLiteral("/peak/ts_ns"));
        if (!sr.peak.phaseAtPeak.empty())
            peak->str(QStringLiteral("Phase at peak"), sr.peak.phaseAtPeak, base + QStringLiteral("/peak/phase"));
        for (const auto& e : sr.peak.explanation)
            peak->add(QStringLiteral("Why"), q(e));
        addRows(s, QStringLiteral("Top contributors at peak (by site)"), sr.peak.live.bySite,
            base + QStringLiteral("/peak/by_site"), 5);
        addRows(
            s, QStringLiteral("At peak by phase"), sr.peak.live.byPhase, base + QStringLiteral("/peak/by_phase"), 5);
        if (ss.reservedPeakBytes)
            s->bytes(
                QStringLiteral("Reserved peak"), *ss.reservedPeakBytes, base + QStringLiteral("/reserved_peak_bytes"));
        s->count(QStringLiteral("Allocations"), ss.allocations, base + QStringLiteral("/allocations"));
        s->bytes(QStringLiteral("Allocated in total"), ss.allocatedBytes, base + QStringLiteral("/allocated_bytes"));
        s->bytes(QStringLiteral("Live at end"), ss.liveAtEndBytes, base + QStringLiteral("/live_at_end_bytes"));
        Node* leaks
            = s->bytes(QStringLiteral("Leaked"), sr.leaks.leakedBytes, base + QStringLiteral("/leaks/leaked_bytes"));
        leaks->count(
            QStringLiteral("Leaked allocations"), sr.leaks.leakedCount, base + QStringLiteral("/leaks/leaked_count"));
        leaks->bytes(QStringLiteral("Retained (allocated once, kept)"), sr.leaks.retainedBytes,
            base + QStringLiteral("/leaks/retained_bytes"));
        for (size_t i = 0; i < sr.leaks.sites.size() && i < 5; ++i) {
            const auto& l = sr.leaks.sites[i];
            leaks->bytes(q(l.site.label) + (l.isLeak ? QStringLiteral(" (leak)") : QStringLiteral(" (retained)")),
                l.bytes, base + QStringLiteral("/leaks/sites/%1/bytes").arg(i));
        }
        const auto& g = sr.growth;
        Node* growth = s->add(QStringLiteral("Growth"),
            g.growing ? QStringLiteral("growing: %1 per %2")
                            .arg(formatBytes(static_cast<int64_t>(g.bytesPerStep)),
                                q(g.stepName.empty() ? "step" : g.stepName))
                      : QStringLiteral("not growing"),
            g.growing, base + QStringLiteral("/growth/growing"));
        growth->add(QStringLiteral("Bytes per step"), formatBytes(static_cast<int64_t>(g.bytesPerStep)), g.bytesPerStep,
            base + QStringLiteral("/growth/bytes_per_step"));
        growth->str(QStringLiteral("Method"), g.method, base + QStringLiteral("/growth/method"));
        Node* churn = s->count(
            QStringLiteral("Temporary allocations"), sr.churn.temporaries, base + QStringLiteral("/churn/temporaries"));
        churn->bytes(QStringLiteral("Temporary bytes"), sr.churn.temporaryBytes,
            base + QStringLiteral("/churn/temporary_bytes"));
        if (sr.fragmentation) {
            const auto& f = *sr.fragmentation;
            Node* fr = s->add(QStringLiteral("Fragmentation (worst)"), formatPercent(f.worst.fragmentation),
                f.worst.fragmentation, base + QStringLiteral("/fragmentation/worst/fragmentation"));
            fr->add(QStringLiteral("Mean fragmentation"), formatPercent(f.meanFragmentation), f.meanFragmentation,
                base + QStringLiteral("/fragmentation/mean_fragmentation"));
            fr->bytes(QStringLiteral("Stranded at worst"), f.worst.strandedBytes,
                base + QStringLiteral("/fragmentation/worst/stranded_bytes"));
            if (!f.explanation.empty())
                fr->add(QStringLiteral("Why"), q(f.explanation));
        }
    }

    void addReportTail(Node* root, const analysis::Report& r, analysis::TimeNs start)
    {
        Node* f
            = root->heading_(QStringLiteral("Failed allocations"), formatCount(static_cast<int64_t>(r.ooms.size())));
        for (size_t i = 0; i < r.ooms.size(); ++i) {
            const auto& o = r.ooms[i];
            Node* n = f->bytes(
                QStringLiteral("%1 at %2 (%3)").arg(q(o.spaceName), formatDuration(o.ts - start), q(o.verdict)),
                o.requestBytes, QStringLiteral("failed_allocations/%1/request_bytes").arg(i));
            n->add(QStringLiteral("Why"), q(o.explanation));
        }
        Node* c = root->heading_(QStringLiteral("Capture coverage"));
        for (const auto& w : r.coverage.warnings)
            c->add(QStringLiteral("Warning"), q(w));
        for (const auto& it : r.coverage.items)
            c->add(q(it.source + " / " + it.name),
                it.value
                    ? formatCount(*it.value) + (it.detail.empty() ? QString() : QStringLiteral("  ") + q(it.detail))
                    : q(it.detail),
                it.value ? QVariant::fromValue<qint64>(*it.value) : QVariant());
    }

} // namespace

SummaryModel::SummaryModel(QObject* parent)
    : QAbstractItemModel(parent)
    , m_root(std::make_unique<Node>())
{
}

SummaryModel::~SummaryModel() = default;

void SummaryModel::setSummary(const analysis::Summary& summary)
{
    rebuild(summary, nullptr);
}

void SummaryModel::setReport(const analysis::Report& report)
{
    rebuild(report.summary, &report);
}

void SummaryModel::rebuild(const analysis::Summary& summary, const analysis::Report* report)
{
    beginResetModel();
    m_root = std::make_unique<Node>();
    addRecording(m_root.get(), summary);
    if (report) {
        for (const auto& sr : report->spaces)
            addSpace(m_root.get(), sr, summary.startNs);
        addReportTail(m_root.get(), *report, summary.startNs);
    } else {
        m_root->heading_(QStringLiteral("Analysing…"), QStringLiteral("peaks, leaks, growth and fragmentation follow"));
    }
    endResetModel();
}

SummaryModel::Node* SummaryModel::nodeOf(const QModelIndex& index) const
{
    return index.isValid() ? static_cast<Node*>(index.internalPointer()) : m_root.get();
}

QModelIndex SummaryModel::index(int row, int column, const QModelIndex& parent) const
{
    if (row < 0 || column < 0 || column >= ColumnCount || (parent.isValid() && parent.column() != 0))
        return {};
    Node* p = nodeOf(parent);
    if (row >= static_cast<int>(p->children.size()))
        return {};
    return createIndex(row, column, p->children[row].get());
}

QModelIndex SummaryModel::parent(const QModelIndex& child) const
{
    if (!child.isValid())
        return {};
    Node* p = nodeOf(child)->parent;
    if (!p || p == m_root.get())
        return {};
    const auto& siblings = p->parent->children;
    for (size_t i = 0; i < siblings.size(); ++i)
        if (siblings[i].get() == p)
            return createIndex(static_cast<int>(i), 0, p);
    return {};
}

int SummaryModel::rowCount(const QModelIndex& parent) const
{
    if (parent.isValid() && parent.column() != 0)
        return 0;
    return static_cast<int>(nodeOf(parent)->children.size());
}

int SummaryModel::columnCount(const QModelIndex&) const
{
    return ColumnCount;
}

QVariant SummaryModel::data(const QModelIndex& index, int role) const
{
    if (!checkIndex(index, CheckIndexOption::IndexIsValid))
        return {};
    const Node* n = nodeOf(index);
    switch (role) {
    case Qt::DisplayRole:
        return index.column() == Figure ? n->name : n->text;
    case Qt::ToolTipRole:
        return n->text.size() > 60 ? n->text : QVariant();
    case RawRole:
        return index.column() == Value ? n->raw : QVariant();
    case KeyRole:
        return n->key.isEmpty() ? QVariant() : QVariant(n->key);
    case Qt::FontRole:
        if (n->heading) {
            QFont f;
            f.setBold(true);
            return f;
        }
        return {};
    }
    return {};
}

QVariant SummaryModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole)
        return {};
    return section == Figure ? QStringLiteral("Figure") : section == Value ? QStringLiteral("Value") : QVariant();
}

QModelIndexList SummaryModel::keyedIndexes() const
{
    QModelIndexList out;
    std::function<void(const QModelIndex&)> walk = [&](const QModelIndex& parent) {
        for (int r = 0; r < rowCount(parent); ++r) {
            QModelIndex i = index(r, Value, parent);
            if (i.data(KeyRole).isValid())
                out << i;
            walk(index(r, Figure, parent));
        }
    };
    walk({});
    return out;
}

} // namespace tidemark::gui
