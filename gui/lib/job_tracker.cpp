// JobTracker: ids and cancel flags of superseding jobs (see job_tracker.h).
#include "gui/lib/job_tracker.h"

namespace tidemark::gui {

JobTracker::Ticket JobTracker::begin()
{
    if (m_cancel)
        m_cancel->store(true);
    m_cancel = std::make_shared<std::atomic<bool>>(false);
    return Ticket { ++m_current, m_cancel };
}

void JobTracker::cancelAll()
{
    if (m_cancel)
        m_cancel->store(true);
    m_cancel.reset();
    ++m_current;
}

} // namespace tidemark::gui
