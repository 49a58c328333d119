// Loader: the staged, cancellable loading of a recording (see loader.h).
#include "gui/lib/loader.h"

#include <QElapsedTimer>
#include <QLoggingCategory>
#include <QMetaObject>
#include <QtConcurrent/QtConcurrentRun>

Q_LOGGING_CATEGORY(lcLoader, "tidemark.gui.loader", QtInfoMsg)

namespace tidemark::gui {

using analysis::Recording;

QString errorText(const Error& e)
{
    QString s = QString::fromStdString(e.message);
    if (!e.hint.empty())
        s += QStringLiteral("\nhint: ") + QString::fromStdString(e.hint);
    return s;
}

namespace {

    // Opens read-only (the viewer never writes to the file); a recording without the level-of-detail
    // series (one written before they existed) is drawn from the exact events.
    Result<Recording> openForViewing(const std::string& path)
    {
        auto rec = Recording::open(path);
        if (rec && !rec->hasSeries())
            qCWarning(lcLoader) << QString::fromStdString(path) << "has no level-of-detail series; zooming uses exact events";
        return rec;
    }

} // namespace

Result<Overview> Loader::buildOverview(
    const QString& path, const std::atomic<bool>* cancel, const std::function<void(int, const QString&)>& progress)
{
    QElapsedTimer clock;
    clock.start();
    progress(2, QStringLiteral("Opening %1").arg(path));
    auto rec = openForViewing(path.toStdString());
    if (!rec)
        return rec.error();
    rec->setCancelFlag(cancel);
    Overview ov;
    ov.path = path;
    ov.openSeconds = clock.nsecsElapsed() / 1e9;
    progress(10, QStringLiteral("Building the timeline"));
    ov.summary.path = path.toStdString();
    ov.summary.startNs = rec->startNs();
    ov.summary.endNs = rec->endNs();
    ov.summary.durationNs = rec->endNs() - rec->startNs();
    const auto t0 = ov.summary.startNs;
    const auto t1 = std::max(ov.summary.endNs, t0 + 1);
    for (const auto& space : rec->spaces()) {
        auto tl = analysis::timeline(*rec, space.id, t0, t1, kOverviewColumns);
        if (!tl)
            return tl.error();
        // The highest column of the envelope: its value is exact (series keep the max), its time is
        // the column's until the summary stage brings the exact instant.
        int64_t peak = 0;
        analysis::TimeNs peakNs = t0;
        bool any = false;
        for (const auto& b : tl->buckets) {
            any = any || b.allocs > 0 || b.maxLiveBytes > 0;
            if (b.maxLiveBytes > peak) {
                peak = b.maxLiveBytes;
                peakNs = b.startNs;
            }
        }
        if (!any)
            continue;
        ov.spaces.push_back(space);
        ov.timelines.push_back(std::move(*tl));
        ov.peakNs.push_back(peakNs);
        ov.peakBytes.push_back(peak);
    }
    for (auto* slot : { &ov.fastRec, &ov.slowRec }) {
        auto other = rec->reopen();
        if (!other)
            return other.error();
        *slot = std::make_shared<Recording>(std::move(*other));
    }
    ov.overviewSeconds = clock.nsecsElapsed() / 1e9;
    return ov;
}

Loader::Loader(QObject* parent)
    : QObject(parent)
{
}

Loader::~Loader()
{
    cancel();
    m_future.waitForFinished();
}

void Loader::cancel()
{
    if (m_cancel)
        m_cancel->store(true);
}

void Loader::load(const QString& path)
{
    cancel();
    m_future.waitForFinished();
    m_cancel = std::make_shared<std::atomic<bool>>(false);
    m_running = true;
    const uint64_t generation = ++m_generation;
    m_future = QtConcurrent::run([this, path, c = m_cancel, generation]() { run(path, c, generation); });
}

void Loader::run(QString path, std::shared_ptr<std::atomic<bool>> cancel, uint64_t generation)
{
    // Results reach the UI thread queued, and only while no newer load() has started.
    auto post = [this, generation](auto fn) {
        QMetaObject::invokeMethod(
            this,
            [this, generation, fn = std::move(fn)]() {
                if (generation == m_generation)
                    fn();
            },
            Qt::QueuedConnection);
    };
    auto fail = [this, post](const Error& e) {
        post([this, msg = errorText(e)]() {
            m_running = false;
            emit failed(msg);
            emit finished();
        });
    };
    auto progressFn = [this, post](int percent, const QString& stage) {
        post([this, percent, stage]() { emit progress(percent, stage); });
    };
    auto ov = buildOverview(path, cancel.get(), progressFn);
    if (!ov)
        return fail(ov.error());
    auto overview = std::make_shared<Overview>(std::move(*ov));
    auto rec = overview->slowRec->reopen();
    post([this, overview]() { emit overviewReady(overview); });
    if (!rec)
        return fail(rec.error());
    rec->setCancelFlag(cancel.get());
    progressFn(35, QStringLiteral("Reading the summary"));
    auto summary = analysis::summary(*rec);
    if (!summary)
        return fail(summary.error());
    auto coverage = analysis::coverage(*rec);
    if (!coverage)
        return fail(coverage.error());
    auto s = std::make_shared<analysis::Summary>(std::move(*summary));
    auto c = std::make_shared<analysis::Coverage>(std::move(*coverage));
    post([this, s, c]() { emit summaryReady(s, c); });
    progressFn(60, QStringLiteral("Analysing peaks, leaks, growth and fragmentation"));
    auto rep = analysis::buildReport(*rec, analysis::ReportOptions {});
    if (!rep)
        return fail(rep.error());
    auto shared = std::make_shared<analysis::Report>(std::move(*rep));
    post([this, shared]() {
        m_running = false;
        emit progress(100, QStringLiteral("Ready"));
        emit reportReady(shared);
        emit finished();
    });
}

} // namespace tidemark::gui
