// The time-ordered event stream of a space: two index-ordered scans of its rows, merged.
#include "trace/events.h"

namespace tidemark::trace {

// Zero-lifetime rows (free at or before alloc) count as events but carry no bytes.
static constexpr const char* kAllocSql = "SELECT alloc_ts_ns, CASE WHEN free_ts_ns IS NOT NULL AND free_ts_ns <= alloc_ts_ns "
                                         "THEN 0 ELSE size_bytes END FROM allocations WHERE space_id = ?1 AND "
                                         "alloc_ts_ns >= ?2 AND alloc_ts_ns < ?3 ORDER BY alloc_ts_ns";
static constexpr const char* kFreeSql = "SELECT free_ts_ns, CASE WHEN free_ts_ns <= alloc_ts_ns THEN 0 ELSE size_bytes END "
                                        "FROM allocations WHERE space_id = ?1 AND free_ts_ns >= ?2 AND free_ts_ns < ?3 "
                                        "ORDER BY free_ts_ns";

Result<EventStream> EventStream::open(Db& db, int64_t spaceId, int64_t from, int64_t to)
{
    EventStream s;
    auto a = db.prepare(kAllocSql);
    if (!a)
        return a.error();
    auto f = db.prepare(kFreeSql);
    if (!f)
        return f.error();
    s.m_alloc = std::move(*a);
    s.m_free = std::move(*f);
    s.m_alloc.bind(1, spaceId).bind(2, from).bind(3, to);
    s.m_free.bind(1, spaceId).bind(2, from).bind(3, to);
    s.pullAlloc();
    s.pullFree();
    return s;
}

void EventStream::pullAlloc()
{
    m_hasAlloc = m_alloc.step();
    if (m_hasAlloc)
        m_a = LiveEvent { m_alloc.int64(0), m_alloc.int64(1), true };
}

void EventStream::pullFree()
{
    m_hasFree = m_free.step();
    if (m_hasFree)
        m_f = LiveEvent { m_free.int64(0), -m_free.int64(1), false };
}

bool EventStream::next(LiveEvent& ev)
{
    if (m_hasFree && (!m_hasAlloc || m_f.ts <= m_a.ts)) {
        ev = m_f;
        pullFree();
        return true;
    }
    if (m_hasAlloc) {
        ev = m_a;
        pullAlloc();
        return true;
    }
    return false;
}

Status EventStream::status() const
{
    if (!m_alloc.status())
        return m_alloc.status();
    return m_free.status();
}

} // namespace tidemark::trace
