// QueryRunner: one worker thread owning one Recording (see query_runner.h).
#include "gui/lib/query_runner.h"

namespace tidemark::gui {

QueryRunner::QueryRunner(analysis::Recording rec, QObject* parent)
    : QObject(parent)
    , m_rec(std::move(rec))
{
    // One thread: a Recording is used by one thread at a time, and queries of one runner queue up.
    m_pool.setMaxThreadCount(1);
    m_pool.setExpiryTimeout(-1);
}

QueryRunner::~QueryRunner()
{
    cancelAll();
    m_pool.waitForDone();
}

void QueryRunner::cancelAll()
{
    for (auto& t : m_trackers)
        t.cancelAll();
}

void QueryRunner::finish()
{
    if (--m_pending == 0)
        emit busyChanged(false);
}

} // namespace tidemark::gui
