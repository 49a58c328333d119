// Time <-> pixel mapping of the timeline: round trips, zoom about a point, panning, clamping to the
// recording, the minimum span, and the Back stack.
#include "gui/lib/time_mapping.h"

#include <QTest>

using namespace tidemark::gui;

class TimeMappingTest : public QObject {
    Q_OBJECT
private slots:
    void roundTrip_data()
    {
        QTest::addColumn<qint64>("t0");
        QTest::addColumn<qint64>("t1");
        QTest::addColumn<int>("width");
        QTest::newRow("1 s over 1000 px") << qint64(1'000'000'000) << qint64(2'000'000'000) << 1000;
        QTest::newRow("odd width") << qint64(5) << qint64(1'000'005) << 977;
        QTest::newRow("hours from a large clock")
            << qint64(7'000'000'000'000'000) << qint64(7'000'010'800'000'000'000) << 1920;
    }
    void roundTrip()
    {
        QFETCH(qint64, t0);
        QFETCH(qint64, t1);
        QFETCH(int, width);
        TimeMapping m(TimeWindow { t0, t1 }, width);
        QCOMPARE(m.mapTimeToX(t0), 0.0);
        QCOMPARE(m.mapTimeToX(t1), double(width));
        for (int x : { 0, 1, width / 3, width / 2, width - 1, width }) {
            auto t = m.mapXToTime(x);
            QVERIFY(std::abs(m.mapTimeToX(t) - x) < 1e-3 * width);
        }
        // Time -> x -> time loses less than one pixel's worth of time.
        for (qint64 t : { t0, t0 + (t1 - t0) / 7, t1 - 1 }) {
            auto back = m.mapXToTime(m.mapTimeToX(t));
            QVERIFY2(std::abs(back - t) <= m.nsPerPixel(), qPrintable(QString::number(back - t)));
        }
    }

    void zoomKeepsTimeUnderCursor()
    {
        TimeMapping m(TimeWindow { 0, 1'000'000'000 }, 1000);
        const double x = 250;
        const auto before = m.mapXToTime(x);
        m.zoomAbout(x, 4.0);
        QCOMPARE(m.view.duration(), 250'000'000);
        QVERIFY(std::abs(m.mapXToTime(x) - before) <= 1);
        m.zoomAbout(x, 0.5);
        QCOMPARE(m.view.duration(), 500'000'000);
        QVERIFY(std::abs(m.mapXToTime(x) - before) <= 1);
        QVERIFY(m.isZoomed());
    }

    void zoomOutClampsToRecording()
    {
        TimeMapping m(TimeWindow { 100, 1'000'100 }, 500);
        m.zoomAbout(400, 0.01);
        QCOMPARE(m.view, m.full);
        QVERIFY(!m.isZoomed());
    }

    void zoomInStopsAtMinimumSpan()
    {
        TimeMapping m(TimeWindow { 0, 1'000'000'000 }, 800);
        for (int i = 0; i < 100; ++i)
            m.zoomAbout(800, 10.0);
        QCOMPARE(m.view.duration(), TimeMapping::kMinDurationNs);
        QCOMPARE(m.view.t1, m.full.t1); // zoomed at the right edge: stays inside
    }

    void panClampsAtBothEnds()
    {
        TimeMapping m(TimeWindow { 0, 1000'000 }, 1000);
        m.zoomAbout(500, 10.0); // 100 µs wide, centred
        const auto d = m.view.duration();
        m.panByPixels(100); // content right: earlier times, 100 px = 10 µs
        QCOMPARE(m.view.t0, 450'000 - 10'000);
        m.panByPixels(1e6);
        QCOMPARE(m.view.t0, 0);
        QCOMPARE(m.view.duration(), d);
        m.panByPixels(-1e6);
        QCOMPARE(m.view.t1, 1000'000);
        QCOMPARE(m.view.duration(), d);
    }

    void setViewClamps()
    {
        TimeMapping m(TimeWindow { 1000, 2000 + TimeMapping::kMinDurationNs * 10 }, 300);
        m.setView(TimeWindow { 0, 500 });
        QCOMPARE(m.view.t0, 1000);
        QCOMPARE(m.view.duration(), TimeMapping::kMinDurationNs);
        m.setView(TimeWindow { -5, 1'000'000'000 });
        QCOMPARE(m.view, m.full);
    }

    void tinyRecordingKeepsItsSpan()
    {
        TimeMapping m(TimeWindow { 10, 20 }, 100); // shorter than the minimum span
        m.zoomAbout(50, 8);
        QCOMPARE(m.view, m.full);
        TimeMapping empty(TimeWindow { 5, 5 }, 0);
        QCOMPARE(empty.full.duration(), 1);
        QCOMPARE(empty.width, 1);
    }

    void backStack()
    {
        ZoomStack s;
        QVERIFY(!s.canGoBack());
        s.push(TimeWindow { 0, 10 });
        s.push(TimeWindow { 2, 4 });
        QCOMPARE(s.pop(), (TimeWindow { 2, 4 }));
        QCOMPARE(s.pop(), (TimeWindow { 0, 10 }));
        QVERIFY(!s.canGoBack());
    }
};

QTEST_APPLESS_MAIN(TimeMappingTest)
#include "tst_time_mapping.moc"
