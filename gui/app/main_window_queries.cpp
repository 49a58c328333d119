// MainWindow queries: every pane follows the selection. A new view re-queries the timeline and lanes
// (fast runner) and the stacked groups (slow runner); a new selection re-queries the live set or the
// window activity, the trees and flame graph, and the segment map (slow runner, in that order).
#include "gui/app/flame_widget.h"
#include "gui/app/main_window.h"
#include "gui/app/segment_widget.h"
#include "gui/app/timeline_widget.h"
#include "gui/lib/calltree_model.h"
#include "gui/lib/diff.h"
#include "gui/lib/format.h"
#include "gui/lib/query_runner.h"
#include "gui/lib/table_models.h"

#include "analysis/stacked_timeline.h"

#include <QComboBox>
#include <QLabel>
#include <QTabWidget>
#include <QTableView>

namespace tidemark::gui {

using analysis::Recording;

namespace {

    struct ViewResult {
        std::vector<analysis::Timeline> timelines;
        Lanes lanes;
    };

    constexpr int kLaneLimit = 20000; // per lane and view; 1-pixel boxes beyond that add nothing visible

    Result<ViewResult> queryView(Recording& rec, const std::vector<int64_t>& spaces, TimeWindow w, int width)
    {
        ViewResult out;
        for (int64_t id : spaces) {
            auto tl = analysis::timeline(rec, id, w.t0, w.t1, width);
            if (!tl)
                return tl.error();
            out.timelines.push_back(std::move(*tl));
        }
        const auto minDuration = w.duration() / std::max(1, width) / 2;
        out.lanes.window = w;
        auto r = analysis::ranges(rec, w.t0, w.t1, minDuration);
        auto k = analysis::kernels(rec, w.t0, w.t1, kLaneLimit);
        auto c = analysis::copies(rec, w.t0, w.t1, kLaneLimit);
        auto f = analysis::failedAllocations(rec, w.t0, w.t1);
        if (!r || !k || !c || !f)
            return !r ? r.error() : !k ? k.error() : !c ? c.error() : f.error();
        out.lanes.ranges = std::move(*r);
        out.lanes.kernels = std::move(*k);
        out.lanes.copies = std::move(*c);
        out.lanes.failed = std::move(*f);
        return out;
    }

    struct Trees {
        analysis::CallTree topDown;
        analysis::CallTree bottomUp;
    };

} // namespace

void MainWindow::requestView()
{
    if (!m_overview || !m_fast)
        return;
    std::vector<int64_t> spaces;
    for (const auto& s : m_overview->spaces)
        spaces.push_back(s.id);
    const TimeWindow w = m_timeline->view();
    const int width = m_timeline->plotWidth();
    m_fast->submit<Result<ViewResult>>(
        QStringLiteral("view"), [=](Recording& rec) { return queryView(rec, spaces, w, width); },
        [this](Result<ViewResult> r) {
            if (!r) {
                m_status->setText(tr("Timeline query failed: %1").arg(errorText(r.error())));
                return;
            }
            m_timeline->setTimelines(std::move(r->timelines));
            m_timeline->setLanes(std::move(r->lanes));
        });
    const auto by = m_stackByBox->currentIndex() == 0 ? analysis::StackBy::Phase : analysis::StackBy::Site;
    const int columns = std::max(1, width / 2);
    m_slow->submit<Result<std::vector<analysis::StackedTimeline>>>(
        QStringLiteral("stacked"),
        [=](Recording& rec) -> Result<std::vector<analysis::StackedTimeline>> {
            std::vector<analysis::StackedTimeline> out;
            for (int64_t id : spaces) {
                auto st = analysis::stackedTimeline(rec, id, w.t0, w.t1, columns, by, 8);
                if (!st)
                    return st.error();
                out.push_back(std::move(*st));
            }
            return out;
        },
        [this](Result<std::vector<analysis::StackedTimeline>> r) {
            if (r)
                m_timeline->setStacked(std::move(*r));
        });
}

void MainWindow::select(const Selection& s)
{
    if (!m_overview || !s.valid)
        return;
    m_selection = s;
    m_timeline->setSelection(s);
    int idx = m_spaceBox->findData(QVariant::fromValue<qint64>(s.spaceId));
    if (idx >= 0)
        m_spaceBox->setCurrentIndex(idx);
    requestSelectionPanes();
}

void MainWindow::requestSelectionPanes()
{
    requestLive();
    requestTrees();
    requestSegments();
}

void MainWindow::requestLive()
{
    const Selection s = m_selection;
    const auto start = m_overview->summary.startNs;
    const QString space = spaceName(s.spaceId);
    if (!s.range) {
        m_selectionHeader->setText(
            tr("Computing what was live in <b>%1</b> at %2…").arg(space, formatDuration(s.t0 - start)));
        m_slow->submit<Result<analysis::LiveSet>>(
            QStringLiteral("live"), [=](Recording& rec) { return analysis::liveAt(rec, s.spaceId, s.t0, {}, 200); },
            [this, space, start](Result<analysis::LiveSet> r) {
                if (!r)
                    return m_selectionHeader->setText(errorText(r.error()));
                m_selectionHeader->setText(
                    tr("<b>Live in %1 at %2</b>: %3 in %4 allocations")
                        .arg(space, formatDuration(r->ts - start), formatBytes(r->totalBytes), formatCount(r->count)));
                m_primaryLabel->setText(tr("<b>By call site</b>"));
                m_secondaryLabel->setText(tr("<b>By phase</b> (NVTX range path)"));
                m_primaryModel->setRows(std::move(r->bySite));
                m_secondaryModel->setGroupTitle(tr("Phase"));
                m_secondaryModel->setRows(std::move(r->byPhase));
                if (m_primaryModel->rowCount() > 0)
                    m_primaryTable->selectRow(0);
            });
        return;
    }
    m_selectionHeader->setText(tr("Computing what happened in <b>%1</b> between %2 and %3…")
                                   .arg(space, formatDuration(s.t0 - start), formatDuration(s.t1 - start)));
    m_slow->submit<Result<analysis::WindowActivity>>(
        QStringLiteral("live"), [=](Recording& rec) { return analysis::activity(rec, s.spaceId, s.t0, s.t1, 200); },
        [this, space, start](Result<analysis::WindowActivity> r) {
            if (!r)
                return m_selectionHeader->setText(errorText(r.error()));
            m_selectionHeader->setText(
                tr("<b>%1 from %2 to %3</b> (%4): allocated %5 in %6, freed %7 in %8; live %9 → %10")
                    .arg(space, formatDuration(r->t0 - start), formatDuration(r->t1 - start),
                        formatDuration(r->t1 - r->t0), formatBytes(r->allocatedBytes), formatCount(r->allocatedCount),
                        formatBytes(r->freedBytes), formatCount(r->freedCount), formatBytes(r->liveAtStartBytes))
                    .arg(formatBytes(r->liveAtEndBytes)));
            m_primaryLabel->setText(tr("<b>Allocated in the range</b>, by call site"));
            m_secondaryLabel->setText(tr("<b>Freed in the range</b>, by call site"));
            m_primaryModel->setRows(std::move(r->allocatedBySite));
            m_secondaryModel->setGroupTitle(tr("Site"));
            m_secondaryModel->setRows(std::move(r->freedBySite));
            if (m_primaryModel->rowCount() > 0)
                m_primaryTable->selectRow(0);
        });
}

void MainWindow::requestTrees()
{
    if (!m_overview || !m_slow || !m_selection.valid)
        return;
    const Selection s = m_selection;
    const int weightIndex = m_weightBox->currentIndex();
    const auto start = m_overview->summary.startNs;
    const QString space = spaceName(s.spaceId);
    QString caption;
    if (weightIndex == 0)
        caption = tr("Bytes live in %1 at %2").arg(space, formatDuration((s.range ? s.t1 : s.t0) - start));
    else if (s.range)
        caption = tr("%1 of allocations made in %2 between %3 and %4")
                      .arg(weightIndex == 1 ? tr("Leaked bytes") : tr("Count"), space, formatDuration(s.t0 - start),
                          formatDuration(s.t1 - start));
    else
        caption = tr("%1 over the whole run in %2 (select a range to restrict)")
                      .arg(weightIndex == 1 ? tr("Leaked bytes") : tr("Allocation count"), space);
    m_slow->submit<Result<Trees>>(
        QStringLiteral("trees"),
        [=](Recording& rec) -> Result<Trees> {
            Trees out;
            for (auto dir : { analysis::TreeDirection::TopDown, analysis::TreeDirection::BottomUp }) {
                Result<analysis::CallTree> t = analysis::CallTree {};
                if (weightIndex == 0)
                    t = analysis::callTreeAt(rec, s.spaceId, s.range ? s.t1 : s.t0, dir);
                else {
                    auto w
                        = weightIndex == 1 ? analysis::TreeWeight::LeakedBytes : analysis::TreeWeight::AllocationCount;
                    t = s.range ? analysis::callTreeInWindow(rec, s.spaceId, s.t0, s.t1, w, dir)
                                : analysis::callTree(rec, s.spaceId, w, dir);
                }
                if (!t)
                    return t.error();
                (dir == analysis::TreeDirection::TopDown ? out.topDown : out.bottomUp) = std::move(*t);
            }
            return out;
        },
        [this, caption](Result<Trees> r) {
            if (!r) {
                m_status->setText(errorText(r.error()));
                return;
            }
            m_flame->setTree(r->topDown, caption);
            m_topDownModel->setTree(std::move(r->topDown));
            m_bottomUpModel->setTree(std::move(r->bottomUp));
        });
}

void MainWindow::requestSegments()
{
    // The pool to show: the selected space when it is a pool, else a pool living in it, else the first.
    const analysis::SpaceInfo* pool = nullptr;
    for (const auto& info : m_overview->spaces) {
        if (!info.isPool())
            continue;
        if (info.id == m_selection.spaceId || (info.parentSpaceId && *info.parentSpaceId == m_selection.spaceId)
            || !pool)
            pool = &info;
        if (info.id == m_selection.spaceId)
            break;
    }
    if (!pool) {
        m_segments->setMessage(
            tr("No pool in this recording. Segments appear for caching allocators that register their "
               "heaps with the NVTX memory extension, and for imported PyTorch snapshots."));
        m_heapModel->setMap({});
        return;
    }
    const int64_t poolId = pool->id;
    const auto t = m_selection.range ? m_selection.t1 : m_selection.t0;
    const QString caption
        = tr("%1 at %2").arg(QString::fromStdString(pool->name), formatDuration(t - m_overview->summary.startNs));
    m_slow->submit<Result<analysis::SegmentMap>>(
        QStringLiteral("segments"), [=](Recording& rec) { return analysis::segmentMap(rec, poolId, t); },
        [this, caption](Result<analysis::SegmentMap> r) {
            if (!r)
                return m_segments->setMessage(errorText(r.error()));
            m_heapModel->setMap(*r);
            m_segments->setMap(std::move(*r), caption);
        });
}

void MainWindow::requestStack(int64_t callsiteId)
{
    if (!m_fast)
        return;
    if (callsiteId == 0) {
        m_stackModel->setFrames({});
        return;
    }
    m_fast->submit<Result<std::vector<analysis::Location>>>(
        QStringLiteral("stack"), [=](Recording& rec) { return rec.stack(callsiteId); },
        [this](Result<std::vector<analysis::Location>> r) {
            if (r)
                m_stackModel->setFrames(std::move(*r));
        });
}

void MainWindow::compareWith(const QString& path)
{
    m_comparePath = path;
    if (!m_overview || !m_slow)
        return; // runs once the first recording's overview is in
    m_diffPending = true;
    m_diffHeader->setText(tr("Comparing with %1…").arg(path));
    m_slow->submit<Result<RecordingDiff>>(
        QStringLiteral("diff"),
        [path](Recording& rec) -> Result<RecordingDiff> {
            auto other = Recording::open(path.toStdString());
            if (!other)
                return other.error();
            return diffRecordings(rec, *other);
        },
        [this](Result<RecordingDiff> r) {
            m_diffPending = false;
            if (!r)
                return m_diffHeader->setText(tr("Cannot compare: %1").arg(errorText(r.error()).toHtmlEscaped()));
            m_diffHeader->setText(
                tr("<b>Before</b> %1 &nbsp; <b>After</b> %2 — per space: peak, leaks, live at end and "
                   "growth, then by call site and by phase (as <code>tidemark diff</code>); red = more memory after")
                    .arg(QString::fromStdString(r->beforePath).toHtmlEscaped(),
                        QString::fromStdString(r->afterPath).toHtmlEscaped()));
            m_diffModel->setDiff(*r);
        });
}

} // namespace tidemark::gui
