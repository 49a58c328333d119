// Every model under QAbstractItemModelTester with data from a real tidemark-train recording; the
// summary model against the report JSON figure by figure; the GUI's own analysis queries (stacked
// timeline, selection call trees) against independent ground truth from the core queries; the flame
// layout's geometry; the GUI diff.
#include "analysis/analysis.h"
#include "analysis/stacked_timeline.h"
#include "gui/lib/calltree_model.h"
#include "gui/lib/diff.h"
#include "gui/lib/flame_layout.h"
#include "gui/lib/summary_model.h"
#include "gui/lib/table_models.h"
#include "gui_test_support.h"

#include <QAbstractItemModelTester>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTest>

using namespace tidemark;
using namespace tidemark::gui;
using analysis::Recording;

namespace {

// The JSON value at a SummaryModel key: '/'-separated; after "spaces" comes a space name.
QJsonValue atPath(const QJsonObject& root, const QString& key)
{
    const QStringList parts = key.split(QLatin1Char('/'));
    QJsonValue v = root;
    for (int i = 0; i < parts.size(); ++i) {
        if (v.isArray()) {
            const QJsonArray a = v.toArray();
            if (i > 0 && parts[i - 1] == QLatin1String("spaces")) {
                QJsonValue found;
                for (const auto& e : a)
                    if (e.toObject().value(QStringLiteral("name")).toString() == parts[i])
                        found = e;
                v = found;
            } else {
                v = a.at(parts[i].toInt());
            }
        } else {
            v = v.toObject().value(parts[i]);
        }
    }
    return v;
}

} // namespace

class ModelsTest : public QObject {
    Q_OBJECT
    QString m_path;
    std::optional<Recording> m_rec;
    int64_t m_host = 0;
    int64_t m_pool = 0;

private slots:
    void initTestCase()
    {
        QString why;
        m_path = test::trainRecording(&why);
        if (m_path.isEmpty())
            QSKIP(qPrintable(why));
        auto rec = Recording::open(m_path.toStdString());
        QVERIFY2(rec.ok(), rec.ok() ? "" : rec.error().message.c_str());
        m_rec.emplace(std::move(*rec));
        for (const auto& s : m_rec->spaces()) {
            if (s.kind == "host")
                m_host = s.id;
            if (s.isPool())
                m_pool = s.id;
        }
        QVERIFY(m_host != 0);
    }

    void summaryModelMatchesReportJson()
    {
        SummaryModel model;
        QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
        auto summary = analysis::summary(*m_rec);
        QVERIFY(summary.ok());
        model.setSummary(*summary);
        QVERIFY(model.rowCount() >= 2);
        auto report = analysis::buildReport(*m_rec, analysis::ReportOptions {});
        QVERIFY(report.ok());
        model.setReport(*report);
        const QJsonObject json
            = QJsonDocument::fromJson(QByteArray::fromStdString(analysis::renderJson(*report))).object();
        QVERIFY(!json.isEmpty());
        const QModelIndexList keyed = model.keyedIndexes();
        QVERIFY2(keyed.size() > 30, qPrintable(QString::number(keyed.size())));
        QSet<QString> keys;
        for (const auto& i : keyed) {
            const QString key = i.data(KeyRole).toString();
            keys << key;
            const QVariant raw = i.data(RawRole);
            const QJsonValue expected = atPath(json, key);
            QVERIFY2(
                !expected.isUndefined() && !expected.isNull(), qPrintable(QStringLiteral("no JSON value at ") + key));
            if (expected.isString())
                QCOMPARE(raw.toString(), expected.toString());
            else if (expected.isBool())
                QCOMPARE(raw.toBool(), expected.toBool());
            else
                QVERIFY2(std::abs(raw.toDouble() - expected.toDouble())
                        <= 1e-9 * std::max(1.0, std::abs(expected.toDouble())),
                    qPrintable(QStringLiteral("%1: model %2, report %3")
                                   .arg(key)
                                   .arg(raw.toDouble())
                                   .arg(expected.toDouble())));
        }
        // The figures the summary page promises are all there.
        for (const char* k : { "recording/duration_ns", "recording/allocations", "spaces/host/peak/bytes",
                 "spaces/host/peak/by_site/0/bytes", "spaces/host/leaks/leaked_bytes",
                 "spaces/host/growth/bytes_per_step", "spaces/pool:host/fragmentation/worst/fragmentation",
                 "recording/failed_allocations" })
            QVERIFY2(keys.contains(QString::fromLatin1(k)), k);
    }

    void breakdownAndStackModels()
    {
        auto peak = analysis::peak(*m_rec, m_host);
        QVERIFY(peak.ok());
        BreakdownModel model;
        QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
        model.setRows(peak->live.bySite);
        QCOMPARE(model.rowCount(), int(peak->live.bySite.size()));
        QCOMPARE(model.index(0, BreakdownModel::Bytes).data(RawRole).toLongLong(), peak->live.bySite[0].bytes);
        model.setRows({});
        QCOMPARE(model.rowCount(), 0);

        StackModel stack;
        QAbstractItemModelTester stackTester(&stack, QAbstractItemModelTester::FailureReportingMode::QtTest);
        auto frames = m_rec->stack(peak->live.bySite[0].exampleCallsiteId);
        QVERIFY(frames.ok());
        QVERIFY(!frames->empty());
        stack.setFrames(*frames);
        QCOMPARE(stack.rowCount(), int(frames->size()));
        // Shown allocating frame first: row 0 is the innermost (last) frame.
        QVERIFY(stack.index(0, StackModel::Function)
                    .data()
                    .toString()
                    .startsWith(QString::fromStdString(frames->back().function)));
    }

    void heapModel()
    {
        if (m_pool == 0)
            QSKIP("no pool space in this recording");
        auto peak = analysis::peak(*m_rec, m_pool);
        QVERIFY(peak.ok());
        auto map = analysis::segmentMap(*m_rec, m_pool, peak->ts);
        QVERIFY(map.ok());
        HeapModel model;
        QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
        model.setMap(*map);
        QCOMPARE(model.rowCount(), int(map->heaps.size()));
        int64_t used = 0;
        for (int r = 0; r < model.rowCount(); ++r)
            used += model.index(r, HeapModel::Used).data(RawRole).toLongLong();
        QCOMPARE(used, map->usedBytes);
    }

    void callTreeModelBothDirections()
    {
        for (auto dir : { analysis::TreeDirection::TopDown, analysis::TreeDirection::BottomUp }) {
            auto tree = analysis::callTree(*m_rec, m_host, analysis::TreeWeight::AllocationCount, dir);
            QVERIFY(tree.ok());
            CallTreeModel model;
            QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
            model.setTree(*tree);
            QCOMPARE(model.rowCount(), int(tree->nodes[0].children.size()));
            int64_t sum = 0;
            for (int r = 0; r < model.rowCount(); ++r)
                sum += model.index(r, CallTreeModel::Total).data(RawRole).toLongLong();
            QCOMPARE(sum, tree->nodes[0].total);
            // Walk down the heaviest path: parent() must lead back up, totals never grow going down.
            QModelIndex i = model.index(0, 0);
            int64_t last = tree->nodes[0].total;
            while (i.isValid()) {
                const int64_t total = model.index(i.row(), CallTreeModel::Total, i.parent()).data(RawRole).toLongLong();
                QVERIFY(total <= last);
                last = total;
                QModelIndex child = model.index(0, 0, i);
                if (child.isValid())
                    QCOMPARE(model.parent(child), i);
                i = child;
            }
        }
    }

    void stackedTimelineSumsToLiveBytes_data()
    {
        QTest::addColumn<int>("by");
        QTest::addColumn<bool>("pool");
        QTest::newRow("host by phase") << int(analysis::StackBy::Phase) << false;
        QTest::newRow("host by site") << int(analysis::StackBy::Site) << false;
        QTest::newRow("pool by phase") << int(analysis::StackBy::Phase) << true;
    }
    void stackedTimelineSumsToLiveBytes()
    {
        QFETCH(int, by);
        QFETCH(bool, pool);
        const int64_t space = pool ? m_pool : m_host;
        if (space == 0)
            QSKIP("no pool space in this recording");
        const auto t0 = m_rec->startNs();
        const auto t1 = m_rec->endNs() + 1;
        const int columns = 97;
        auto st = analysis::stackedTimeline(*m_rec, space, t0, t1, columns, analysis::StackBy(by), 3);
        QVERIFY(st.ok());
        QVERIFY(st->groups.size() <= 4);
        int nonZero = 0;
        for (int c = 0; c < columns; ++c) {
            // Column c ends where column c+1 starts; its value is the live bytes just before that.
            const auto end = c + 1 == columns
                ? t1
                : t0 + static_cast<int64_t>((static_cast<__int128>(t1 - t0) * (c + 1)) / columns);
            auto exact = analysis::liveBytesAt(*m_rec, space, end - 1);
            QVERIFY(exact.ok());
            int64_t sum = 0;
            for (int g = 0; g < int(st->groups.size()); ++g) {
                QVERIFY(st->at(c, g) >= 0);
                sum += st->at(c, g);
            }
            QVERIFY2(sum == *exact,
                qPrintable(QStringLiteral("column %1: stacked %2, liveBytesAt %3").arg(c).arg(sum).arg(*exact)));
            nonZero += sum > 0;
        }
        QVERIFY(nonZero > columns / 2);
    }

    void selectionTreesMatchLiveSetAndActivity()
    {
        auto peak = analysis::peak(*m_rec, m_host);
        QVERIFY(peak.ok());
        for (auto dir : { analysis::TreeDirection::TopDown, analysis::TreeDirection::BottomUp }) {
            auto tree = analysis::callTreeAt(*m_rec, m_host, peak->ts, dir);
            QVERIFY(tree.ok());
            QCOMPARE(tree->nodes[0].total, peak->live.totalBytes);
            CallTreeModel model;
            QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
            model.setTree(*tree);
        }
        const auto mid = m_rec->startNs() + (m_rec->endNs() - m_rec->startNs()) / 2;
        auto act = analysis::activity(*m_rec, m_host, m_rec->startNs(), mid);
        QVERIFY(act.ok());
        auto counted = analysis::callTreeInWindow(*m_rec, m_host, m_rec->startNs(), mid,
            analysis::TreeWeight::AllocationCount, analysis::TreeDirection::TopDown);
        QVERIFY(counted.ok());
        QCOMPARE(counted->nodes[0].total, act->allocatedCount);
        auto bytes = analysis::callTreeInWindow(*m_rec, m_host, m_rec->startNs(), mid,
            analysis::TreeWeight::AllocatedBytes, analysis::TreeDirection::BottomUp);
        QVERIFY(bytes.ok());
        QCOMPARE(bytes->nodes[0].total, act->allocatedBytes);
    }

    void flameLayoutGeometry()
    {
        auto tree = analysis::callTreeAt(
            *m_rec, m_host, analysis::peak(*m_rec, m_host)->ts, analysis::TreeDirection::TopDown);
        QVERIFY(tree.ok());
        auto boxes = layoutFlame(*tree, 0, 0.0);
        QVERIFY(boxes.size() >= tree->nodes.size() / 2);
        QCOMPARE(boxes[0].x0, 0.0);
        QCOMPARE(boxes[0].x1, 1.0);
        QHash<int, FlameBox> byNode;
        for (const auto& b : boxes)
            byNode[b.node] = b;
        for (const auto& b : boxes) {
            if (b.node == 0)
                continue;
            const auto& parent = byNode[tree->nodes[b.node].parent];
            QCOMPARE(b.depth, parent.depth + 1);
            QVERIFY(b.x0 >= parent.x0 - 1e-12 && b.x1 <= parent.x1 + 1e-12);
            const double expected = double(tree->nodes[b.node].total) / tree->nodes[0].total;
            QVERIFY(std::abs((b.x1 - b.x0) - expected) < 1e-12);
        }
        // Hit testing finds each box at its own centre.
        for (int i = 0; i < int(boxes.size()); i += 7)
            QCOMPARE(boxes[flameBoxAt(boxes, (boxes[i].x0 + boxes[i].x1) / 2, boxes[i].depth)].node, boxes[i].node);
        // Focusing a node lays out its subtree at full width; tiny boxes can be culled.
        const int focus = tree->nodes[0].children[0];
        auto sub = layoutFlame(*tree, focus, 0.0);
        QCOMPARE(sub[0].node, focus);
        QVERIFY(layoutFlame(*tree, 0, 0.2).size() < boxes.size());
    }

    void diffModelAndSelfDiff()
    {
        QString why;
        const QString longer = test::trainRecording(
            &why, QStringLiteral("train5.tmdb"), { QStringLiteral("--steps"), QStringLiteral("5") });
        if (longer.isEmpty())
            QSKIP(qPrintable(why));
        auto other = Recording::open(longer.toStdString());
        QVERIFY(other.ok());
        auto diff = diffRecordings(*m_rec, *other);
        QVERIFY(diff.ok());
        DiffModel model;
        QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
        model.setDiff(*diff);
        QVERIFY(model.rowCount() > 2);
        // The totals of each space hold the two peaks; the breakdown rows are the analysis diff's own.
        auto peakA = analysis::peak(*m_rec, m_host);
        auto peakB = analysis::peak(*other, other->findSpace("host")->id);
        bool sawHost = false;
        for (const auto& r : diff->rows)
            if (r.measure == "total" && r.space == "host" && r.key == "peak") {
                sawHost = true;
                QCOMPARE(int64_t(r.before), peakA->bytes);
                QCOMPARE(int64_t(r.after), peakB->bytes);
            }
        QVERIFY(sawHost);
        size_t tableRows = 0;
        for (const auto& s : diff->diff.spaces)
            for (const auto& t : s.tables)
                tableRows += t.rows.size();
        size_t flatTableRows = 0;
        for (const auto& r : diff->rows)
            flatTableRows += r.measure != "total";
        QCOMPARE(flatTableRows, tableRows);
        QVERIFY(tableRows > 0); // 5 steps against 3: something changed
        // A recording against itself: every total unchanged, no breakdown rows.
        auto self = diffRecordings(*m_rec, *m_rec);
        QVERIFY(self.ok());
        for (const auto& r : self->rows) {
            QCOMPARE(r.measure, std::string("total"));
            QCOMPARE(r.delta(), 0.0);
        }
    }
};

QTEST_GUILESS_MAIN(ModelsTest)
#include "tst_models.moc"
