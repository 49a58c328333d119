// The window on a real tidemark-train recording, offscreen: the staged loader, the summary, and the
// selection driving the panes (live set at the peak = analysis::liveAt, range = analysis::activity,
// trees and segment map at the selected time); --screenshot renders every view; bad input exits 2.
#include "analysis/analysis.h"
#include "gui/app/main_window.h"
#include "gui/lib/calltree_model.h"
#include "gui/lib/loader.h"
#include "gui/lib/summary_model.h"
#include "gui/lib/table_models.h"
#include "gui_test_support.h"

#include <QImage>
#include <QSignalSpy>
#include <QTest>

using namespace tidemark;
using namespace tidemark::gui;

namespace {

bool waitIdle(MainWindow& w)
{
    bool done = false;
    bool ok = false;
    w.whenIdle([&](bool result) {
        done = true;
        ok = result;
    });
    return QTest::qWaitFor([&]() { return done; }, 60000) && ok;
}

void compareRows(const BreakdownModel* model, const std::vector<analysis::BreakdownRow>& expected)
{
    QCOMPARE(model->rowCount(), int(expected.size()));
    for (int r = 0; r < model->rowCount(); ++r) {
        QCOMPARE(model->index(r, 0).data(KeyRole).toString(), QString::fromStdString(expected[r].key));
        QCOMPARE(model->index(r, BreakdownModel::Bytes).data(RawRole).toLongLong(), expected[r].bytes);
        QCOMPARE(model->index(r, BreakdownModel::Count).data(RawRole).toLongLong(), expected[r].count);
    }
}

} // namespace

class WindowTest : public QObject {
    Q_OBJECT
    QString m_path;

private slots:
    void initTestCase()
    {
        QString why;
        m_path = test::trainRecording(&why);
        if (m_path.isEmpty())
            QSKIP(qPrintable(why));
    }

    void loaderStagesWithProgress()
    {
        Loader loader;
        QSignalSpy progress(&loader, &Loader::progress);
        QSignalSpy overview(&loader, &Loader::overviewReady);
        QSignalSpy summary(&loader, &Loader::summaryReady);
        QSignalSpy report(&loader, &Loader::reportReady);
        QSignalSpy failed(&loader, &Loader::failed);
        loader.load(m_path);
        QVERIFY(report.wait(60000) || report.size() == 1);
        QCOMPARE(overview.size(), 1);
        QCOMPARE(summary.size(), 1);
        QCOMPARE(failed.size(), 0);
        QVERIFY(progress.size() >= 3);
        QCOMPARE(progress.last().at(0).toInt(), 100);
        auto ov = overview.first().at(0).value<std::shared_ptr<Overview>>();
        QVERIFY(ov);
        QVERIFY(!ov->spaces.empty());
        QCOMPARE(ov->timelines.size(), ov->spaces.size());
        // The overview's peaks (from the level-of-detail envelope, before any scan) are the summary's:
        // the same bytes, at most two columns later (a series bucket counts in the column it starts in
        // and may reach into the next one).
        auto sum = summary.first().at(0).value<std::shared_ptr<analysis::Summary>>();
        QVERIFY(sum);
        for (size_t i = 0; i < ov->spaces.size(); ++i) {
            bool found = false;
            for (const auto& ss : sum->spaces) {
                if (ss.space.id != ov->spaces[i].id)
                    continue;
                found = true;
                QCOMPARE(ov->peakBytes[i], ss.peakBytes);
                const auto column = (ov->summary.endNs - ov->summary.startNs) / Loader::kOverviewColumns + 1;
                QVERIFY2(ss.peakNs >= ov->peakNs[i] && ss.peakNs <= ov->peakNs[i] + 2 * column,
                    qPrintable(QStringLiteral("%1: summary %2, overview %3, column %4")
                                   .arg(QString::fromStdString(ss.space.name))
                                   .arg(ss.peakNs - ov->summary.startNs)
                                   .arg(ov->peakNs[i] - ov->summary.startNs)
                                   .arg(column)));
            }
            QVERIFY(found);
        }
    }

    void loaderReportsBadInput()
    {
        QTemporaryDir dir;
        const QString bogus = dir.filePath(QStringLiteral("not-a-recording.tmdb"));
        QFile f(bogus);
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write("this is not SQLite\n");
        f.close();
        Loader loader;
        QSignalSpy failed(&loader, &Loader::failed);
        loader.load(bogus);
        QVERIFY(failed.wait(20000));
        QVERIFY(!failed.first().at(0).toString().isEmpty());
    }

    void selectionDrivesThePanes()
    {
        MainWindow w;
        w.setProperty("headless", true);
        w.resize(1200, 800);
        w.show();
        w.openFile(m_path);
        QVERIFY(waitIdle(w));
        QVERIFY(w.overview());
        auto rec = analysis::Recording::open(m_path.toStdString());
        QVERIFY(rec.ok());

        // The default selection is the peak of the first space shown: the live set is liveAt's.
        const Selection s = w.selection();
        QVERIFY(s.valid && !s.range);
        auto peak = analysis::peak(*rec, s.spaceId);
        QVERIFY(peak.ok());
        QCOMPARE(s.t0, peak->ts);
        auto live = analysis::liveAt(*rec, s.spaceId, s.t0, {}, 200);
        QVERIFY(live.ok());
        QVERIFY(!live->bySite.empty());
        compareRows(w.primaryModel(), live->bySite);
        compareRows(w.secondaryModel(), live->byPhase);
        QCOMPARE(w.topDownModel()->tree().nodes[0].total, live->totalBytes);
        // The summary was filled from the report.
        QVERIFY(w.summaryModel()->keyedIndexes().size() > 30);

        // Another instant in another space: every pane follows.
        const auto& ov = *w.overview();
        const int last = int(ov.spaces.size()) - 1;
        const auto t = ov.summary.startNs + (ov.summary.endNs - ov.summary.startNs) / 3;
        w.select(Selection { true, false, t, t, ov.spaces[last].id });
        QVERIFY(waitIdle(w));
        auto live2 = analysis::liveAt(*rec, ov.spaces[last].id, t, {}, 200);
        QVERIFY(live2.ok());
        compareRows(w.primaryModel(), live2->bySite);
        QCOMPARE(
            w.topDownModel()->tree().nodes.empty() ? 0 : w.topDownModel()->tree().nodes[0].total, live2->totalBytes);
        if (ov.spaces[last].isPool()) {
            auto map = analysis::segmentMap(*rec, ov.spaces[last].id, t);
            QVERIFY(map.ok());
            QCOMPARE(w.heapModel()->rowCount(), int(map->heaps.size()));
        }

        // A range: what was allocated and freed in it.
        const auto t1 = ov.summary.startNs + 2 * (ov.summary.endNs - ov.summary.startNs) / 3;
        w.select(Selection { true, true, t, t1, ov.spaces[0].id });
        QVERIFY(waitIdle(w));
        auto act = analysis::activity(*rec, ov.spaces[0].id, t, t1, 200);
        QVERIFY(act.ok());
        compareRows(w.primaryModel(), act->allocatedBySite);
        compareRows(w.secondaryModel(), act->freedBySite);
    }

    void screenshotEveryView_data()
    {
        QTest::addColumn<QString>("view");
        for (const char* v : { "summary", "timeline", "segments", "flame" })
            QTest::newRow(v) << QString::fromLatin1(v);
    }
    void screenshotEveryView()
    {
        QFETCH(QString, view);
        QTemporaryDir dir;
        const QString out = dir.filePath(view + QStringLiteral(".png"));
        QProcess p;
        p.start(test::buildDir() + QStringLiteral("/bin/tidemark-gui"),
            { QStringLiteral("--screenshot"), out, QStringLiteral("--view"), view, QStringLiteral("--size"),
                QStringLiteral("900x640"), m_path });
        QVERIFY(p.waitForFinished(120000));
        QCOMPARE(p.exitCode(), 0);
        QImage img(out);
        QCOMPARE(img.size(), QSize(900, 640));
        // Not a blank window: many distinct colours.
        QSet<QRgb> colours;
        for (int y = 0; y < img.height(); y += 7)
            for (int x = 0; x < img.width(); x += 7)
                colours << img.pixel(x, y);
        QVERIFY2(colours.size() > 20, qPrintable(QString::number(colours.size())));
    }

    void screenshotBadInputExitsTwo_data()
    {
        QTest::addColumn<QStringList>("args");
        QTest::newRow("missing file") << QStringList { QStringLiteral("/nonexistent/x.tmdb") };
        QTest::newRow("unknown view") << QStringList { QStringLiteral("--view"), QStringLiteral("nope"),
            QStringLiteral("FILE") };
        QTest::newRow("bad size") << QStringList { QStringLiteral("--size"), QStringLiteral("big"),
            QStringLiteral("FILE") };
        QTest::newRow("not a recording") << QStringList { QStringLiteral("SELF") };
    }
    void screenshotBadInputExitsTwo()
    {
        QFETCH(QStringList, args);
        QTemporaryDir dir;
        for (auto& a : args) {
            if (a == QLatin1String("FILE"))
                a = m_path;
            if (a == QLatin1String("SELF"))
                a = test::buildDir() + QStringLiteral("/CMakeCache.txt");
        }
        QProcess p;
        p.start(test::buildDir() + QStringLiteral("/bin/tidemark-gui"),
            QStringList { QStringLiteral("--screenshot"), dir.filePath(QStringLiteral("x.png")) } + args);
        QVERIFY(p.waitForFinished(60000));
        QCOMPARE(p.exitCode(), 2);
        const QString err = QString::fromLocal8Bit(p.readAllStandardError());
        QVERIFY2(err.contains(QStringLiteral("tidemark-gui: error: ")), qPrintable(err));
        QVERIFY(!QFileInfo::exists(dir.filePath(QStringLiteral("x.png"))));
    }
};

QTEST_MAIN(WindowTest)
#include "tst_window.moc"
