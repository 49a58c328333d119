// The allocation rows of one space read back as live-bytes events in time order: what the series
// are built from (finalize) and what the analyses replay.
#pragma once

#include "trace/result.h"
#include "trace/sqlite.h"

#include <cstdint>

namespace tidemark::trace {

// One change of live bytes: +size at an allocation, -size at its free. Zero-lifetime rows (free at
// or before alloc) contribute 0, so live bytes never go negative and liveAt() stays consistent.
struct LiveEvent {
    int64_t ts = 0;
    int64_t delta = 0;
    bool isAlloc = true;
};

// The allocations of one space as events in time order within [from, to), frees before allocs at
// equal timestamps. Two index-ordered scans merged: bounded memory on any recording size.
class EventStream {
public:
    static Result<EventStream> open(Db& db, int64_t spaceId, int64_t from, int64_t to);
    bool next(LiveEvent& ev);
    Status status() const;

private:
    void pullAlloc();
    void pullFree();
    Stmt m_alloc;
    Stmt m_free;
    bool m_hasAlloc = false;
    bool m_hasFree = false;
    LiveEvent m_a;
    LiveEvent m_f;
};

} // namespace tidemark::trace
