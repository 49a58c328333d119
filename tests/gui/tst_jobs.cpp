// Superseding jobs: JobTracker ids and cancel flags, and QueryRunner delivering only the newest result
// of a channel, cancelling the older query through Recording::setCancelFlag, keeping channels apart.
#include "gui/lib/job_tracker.h"
#include "gui/lib/query_runner.h"
#include "gui_test_support.h"

#include <QElapsedTimer>
#include <QTest>
#include <QThread>

using namespace tidemark;
using namespace tidemark::gui;

class JobsTest : public QObject {
    Q_OBJECT
private slots:
    void trackerSupersedes()
    {
        JobTracker t;
        auto a = t.begin();
        QVERIFY(t.isCurrent(a.id));
        QVERIFY(!a.cancel->load());
        auto b = t.begin();
        QVERIFY(a.cancel->load());
        QVERIFY(!b.cancel->load());
        QVERIFY(!t.isCurrent(a.id));
        QVERIFY(t.isCurrent(b.id));
        t.cancelAll();
        QVERIFY(b.cancel->load());
        QVERIFY(!t.isCurrent(b.id));
    }

    void runnerDeliversOnlyTheNewest()
    {
        QString why;
        const QString path = test::trainRecording(&why);
        if (path.isEmpty())
            QSKIP(qPrintable(why));
        auto rec = analysis::Recording::open(path.toStdString());
        QVERIFY(rec.ok());
        QueryRunner runner(std::move(*rec));
        QList<int> delivered;
        QList<int> other;
        runner.submit<int>(
            QStringLiteral("live"),
            [](analysis::Recording&) {
                QThread::msleep(200);
                return 1;
            },
            [&](int v) { delivered << v; });
        runner.submit<int>(
            QStringLiteral("live"), [](analysis::Recording&) { return 2; }, [&](int v) { delivered << v; });
        runner.submit<int>(
            QStringLiteral("tree"), [](analysis::Recording& r) { return int(r.spaces().size()); },
            [&](int v) { other << v; });
        QTRY_COMPARE_WITH_TIMEOUT(runner.pending(), 0, 10000);
        QCOMPARE(delivered, QList<int>({ 2 }));
        QCOMPARE(other.size(), 1);
        QVERIFY(other[0] >= 1);
    }

    void olderQueryIsCancelledThroughTheRecording()
    {
        QString why;
        const QString path = test::trainRecording(&why);
        if (path.isEmpty())
            QSKIP(qPrintable(why));
        auto rec = analysis::Recording::open(path.toStdString());
        QVERIFY(rec.ok());
        QueryRunner runner(std::move(*rec));
        std::atomic<bool> sawCancel { false };
        QElapsedTimer clock;
        clock.start();
        runner.submit<int>(
            QStringLiteral("live"),
            [&](analysis::Recording& r) {
                // Stands for a long scan: polls the flag the analysis layer polls.
                for (int i = 0; i < 1000 && !r.cancelled(); ++i)
                    QThread::msleep(10);
                sawCancel = r.cancelled();
                return 1;
            },
            [](int) { QFAIL("a superseded result must not be delivered"); });
        QThread::msleep(50);
        int got = 0;
        runner.submit<int>(
            QStringLiteral("live"), [](analysis::Recording& r) { return r.cancelled() ? -1 : 7; },
            [&](int v) { got = v; });
        QTRY_COMPARE_WITH_TIMEOUT(got, 7, 10000);
        QVERIFY(sawCancel.load());
        QVERIFY2(clock.elapsed() < 5000, "the first query ran to its end instead of being cancelled");
    }
};

QTEST_GUILESS_MAIN(JobsTest)
#include "tst_jobs.moc"
