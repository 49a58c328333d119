// LiveSeries (see live_series.h): one SeriesWriter per space, fed from pass 2 of the ingest.
#include "collector/live_series.h"

#include <string>

namespace tidemark::collector {

void LiveSeries::start(const trace::SeriesParams& params)
{
    m_params = params;
    m_active = params.levels > 0;
}

LiveSeries::Space* LiveSeries::at(int64_t space)
{
    if (!m_active || space <= 0)
        return nullptr;
    if (static_cast<size_t>(space) >= m_spaces.size())
        m_spaces.resize(static_cast<size_t>(space) + 1);
    Space& s = m_spaces[static_cast<size_t>(space)];
    if (s.spoiled)
        return nullptr;
    if (!s.writer)
        s.writer = std::make_unique<trace::SeriesWriter>(m_params, space);
    return &s;
}

void LiveSeries::event(Space* s, int64_t ts, int64_t delta, bool isAlloc)
{
    if (!m_status.ok())
        return;
    if (auto st = s->writer->event(ts, delta, isAlloc); !st)
        m_status = st;
}

void LiveSeries::flushPending(Space* s)
{
    for (int64_t delta : s->pending)
        event(s, s->pendingTs, delta, true);
    s->pending.clear();
}

void LiveSeries::alloc(int64_t space, int64_t ts, int64_t size)
{
    Space* s = at(space);
    if (!s)
        return;
    if (ts < s->lastTs) {
        spoil(space);
        return;
    }
    s->lastTs = ts;
    if (ts != s->pendingTs) {
        flushPending(s);
        s->pendingTs = ts;
    }
    s->pending.push_back(size);
}

void LiveSeries::free(int64_t space, int64_t ts, int64_t allocTs, int64_t size)
{
    Space* s = at(space);
    if (!s)
        return;
    if (ts < allocTs || ts < s->lastTs) {
        spoil(space); // out of time order: the rows decide
        return;
    }
    s->lastTs = ts;
    int64_t delta = -size;
    if (ts == allocTs) {
        // Zero length: the allocation is still pending (same time); both carry no bytes.
        auto it = s->pending.end();
        if (ts == s->pendingTs)
            for (auto p = s->pending.begin(); p != s->pending.end(); ++p)
                if (*p == size)
                    it = p;
        if (it == s->pending.end()) {
            spoil(space);
            return;
        }
        *it = 0;
        delta = 0;
    }
    if (ts > s->pendingTs)
        flushPending(s);
    event(s, ts, delta, false);
}

void LiveSeries::spoil(int64_t space)
{
    if (!m_active || space <= 0)
        return;
    if (static_cast<size_t>(space) >= m_spaces.size())
        m_spaces.resize(static_cast<size_t>(space) + 1);
    Space& s = m_spaces[static_cast<size_t>(space)];
    s.spoiled = true;
    s.writer.reset();
}

uint64_t LiveSeries::spoiledSpaces() const
{
    uint64_t n = 0;
    for (const Space& s : m_spaces)
        n += s.spoiled ? 1 : 0;
    return n;
}

Status LiveSeries::finish(trace::Db& db)
{
    if (!m_active)
        return okStatus();
    m_active = false;
    if (!m_status.ok())
        return m_status;
    for (size_t id = 0; id < m_spaces.size(); ++id) {
        Space& s = m_spaces[id];
        if (s.writer) {
            flushPending(&s);
            if (!m_status.ok())
                return m_status;
            if (auto st = s.writer->finish(db); !st)
                return st;
            s.writer.reset();
        }
        if (s.spoiled) {
            if (auto st = db.exec("DELETE FROM series WHERE space_id = " + std::to_string(id)); !st)
                return st;
        }
    }
    return trace::writeSeriesParams(db, m_params);
}

} // namespace tidemark::collector
