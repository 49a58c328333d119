// Superseding background jobs (the hotspot JobTracker pattern): every job gets an increasing id and a
// cancel flag; starting a newer job cancels the older one, and a finished job's result is delivered
// only when it is still the newest. QueryRunner builds on it to run analysis queries off the UI thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

namespace tidemark::gui {

class JobTracker {
public:
    struct Ticket {
        uint64_t id = 0;
        std::shared_ptr<std::atomic<bool>> cancel;
    };

    // Starts a new job: the previous one is flagged cancelled.
    Ticket begin();
    bool isCurrent(uint64_t id) const { return id == m_current; }
    uint64_t current() const { return m_current; }
    // Cancels the current job without starting another (e.g. when the recording closes).
    void cancelAll();

private:
    uint64_t m_current = 0;
    std::shared_ptr<std::atomic<bool>> m_cancel;
};

} // namespace tidemark::gui
