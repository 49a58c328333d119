// A worker thread with its own Recording (Recording::reopen), running analysis queries one at a time
// off the UI thread. Each request names a channel ("live", "tree", ...): a newer request on a channel
// cancels the older one through Recording::setCancelFlag and drops its result, so the panes only ever
// show the answer to the latest selection.
#pragma once

#include "analysis/recording.h"
#include "gui/lib/job_tracker.h"

#include <QHash>
#include <QMetaObject>
#include <QObject>
#include <QString>
#include <QThreadPool>

#include <functional>
#include <memory>
#include <mutex>

namespace tidemark::gui {

class QueryRunner : public QObject {
    Q_OBJECT
public:
    QueryRunner(analysis::Recording rec, QObject* parent = nullptr);
    ~QueryRunner() override; // cancels everything and waits for the running query

    // Runs fn(recording) on the worker; calls done(result) on this object's thread if the request is
    // still the newest of its channel when it finishes.
    template <typename R>
    void submit(const QString& channel, std::function<R(analysis::Recording&)> fn, std::function<void(R)> done)
    {
        JobTracker::Ticket ticket = m_trackers[channel].begin();
        ++m_pending;
        emit busyChanged(true);
        auto task = [this, channel, ticket, fn = std::move(fn), done = std::move(done)]() mutable {
            std::shared_ptr<R> result;
            if (!ticket.cancel->load()) {
                std::lock_guard lock(m_recMutex);
                m_rec.setCancelFlag(ticket.cancel.get());
                result = std::make_shared<R>(fn(m_rec));
                m_rec.setCancelFlag(nullptr);
            }
            QMetaObject::invokeMethod(
                this,
                [this, channel, ticket, result, done = std::move(done)]() {
                    finish();
                    if (result && m_trackers[channel].isCurrent(ticket.id))
                        done(std::move(*result));
                },
                Qt::QueuedConnection);
        };
        m_pool.start(std::move(task));
    }

    int pending() const { return m_pending; }
    void cancelAll();

signals:
    void busyChanged(bool busy);

private:
    void finish();

    analysis::Recording m_rec;
    std::mutex m_recMutex;
    QThreadPool m_pool;
    QHash<QString, JobTracker> m_trackers;
    int m_pending = 0;
};

} // namespace tidemark::gui
