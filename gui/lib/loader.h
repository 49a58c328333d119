// Loads a recording in a worker thread, in stages with progress (heaptrack-style): open (finalizing
// when the level-of-detail series is missing); the overview that lets the timeline paint at once
// (whole-run timelines from the level-of-detail series, two worker Recordings: no full scan); the
// summary and coverage (one scan per space); then the full report for the summary page.
// Cancellable at any stage through Recording::setCancelFlag.
#pragma once

#include "analysis/analysis.h"

#include <QFuture>
#include <QObject>
#include <QString>

#include <atomic>
#include <functional>
#include <memory>
#include <vector>

namespace tidemark::gui {

// Everything the window needs to paint its first frame.
struct Overview {
    QString path;
    analysis::Summary summary; // start, end and path only until summaryComplete (the summary stage)
    analysis::Coverage coverage;
    bool summaryComplete = false;
    std::vector<analysis::SpaceInfo> spaces; // spaces with allocations, in recording order
    std::vector<analysis::Timeline> timelines; // whole run, one per entry of spaces
    std::vector<analysis::TimeNs> peakNs; // per space: the column of the highest bucket, exact once summaryComplete
    std::vector<int64_t> peakBytes;
    // Separate connections for the query runners (a Recording is used by one thread at a time).
    std::shared_ptr<analysis::Recording> fastRec;
    std::shared_ptr<analysis::Recording> slowRec;
    double openSeconds = 0; // open + finalize
    double overviewSeconds = 0; // from the start of loading to this overview
};

class Loader : public QObject {
    Q_OBJECT
public:
    static constexpr int kOverviewColumns = 2048;

    explicit Loader(QObject* parent = nullptr);
    ~Loader() override;

    void load(const QString& path);
    void cancel();
    bool isRunning() const { return m_running; }

    // The whole job on the calling thread (tests and --screenshot use it through load()).
    static Result<Overview> buildOverview(
        const QString& path, const std::atomic<bool>* cancel, const std::function<void(int, const QString&)>& progress);

signals:
    void progress(int percent, const QString& stage);
    void overviewReady(std::shared_ptr<tidemark::gui::Overview> overview);
    void summaryReady(
        std::shared_ptr<tidemark::analysis::Summary> summary, std::shared_ptr<tidemark::analysis::Coverage> coverage);
    void reportReady(std::shared_ptr<tidemark::analysis::Report> report);
    void failed(const QString& message);
    void finished();

private:
    void run(QString path, std::shared_ptr<std::atomic<bool>> cancel, uint64_t generation);

    QFuture<void> m_future;
    std::shared_ptr<std::atomic<bool>> m_cancel;
    bool m_running = false;
    uint64_t m_generation = 0;
};

QString errorText(const Error& e);

} // namespace tidemark::gui
