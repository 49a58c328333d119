// LiveSeries (see live_series.h): per-space buckets of doubling width, fed from pass 2 of the
// ingest, turned into the `series` rows at the end.
#include "collector/live_series.h"

#include "collector/row_writer.h"

#include <algorithm>

namespace tidemark::collector {

LiveSeries::Space* LiveSeries::slot(int64_t space)
{
    if (space <= 0)
        return nullptr;
    if (static_cast<size_t>(space) >= m_spaces.size())
        m_spaces.resize(static_cast<size_t>(space) + 1);
    return &m_spaces[static_cast<size_t>(space)];
}

LiveSeries::Space* LiveSeries::at(int64_t space, int64_t owner)
{
    Space* s = slot(space);
    if (!s || s->spoiled)
        return nullptr;
    if (s->owner == 0)
        s->owner = owner;
    if (s->owner != owner) {
        // Two processes share the space: their events come in two streams, not one.
        spoil(space);
        return nullptr;
    }
    return s;
}

void LiveSeries::note(int64_t ts)
{
    m_lo = std::min(m_lo, ts);
    m_hi = std::max(m_hi, ts);
}

void LiveSeries::coarsen(Space& s)
{
    ++s.shift;
    size_t out = 0;
    for (size_t i = 0; i < s.buckets.size(); ++i) {
        Bucket b = s.buckets[i];
        b.index >>= 1;
        if (out > 0 && s.buckets[out - 1].index == b.index) {
            Bucket& into = s.buckets[out - 1];
            into.minLive = std::min(into.minLive, b.minLive);
            into.maxLive = std::max(into.maxLive, b.maxLive);
            into.lastLive = b.lastLive;
            into.allocs += b.allocs;
            into.frees += b.frees;
        } else {
            s.buckets[out++] = b;
        }
    }
    s.buckets.resize(out);
}

void LiveSeries::event(Space& s, int64_t ts, int64_t delta, bool isAlloc)
{
    int64_t index = ts >> s.shift;
    if (s.buckets.empty() || s.buckets.back().index != index) {
        // A bucket's envelope includes the live bytes it starts with.
        s.buckets.push_back({ index, s.live, s.live, s.live, 0, 0 });
        if (s.buckets.size() > kMaxBuckets)
            coarsen(s);
    }
    s.live = trace::addLiveSaturating(s.live, delta);
    Bucket& b = s.buckets.back();
    b.minLive = std::min(b.minLive, s.live);
    b.maxLive = std::max(b.maxLive, s.live);
    b.lastLive = s.live;
    (isAlloc ? b.allocs : b.frees) += 1;
}

void LiveSeries::flushPending(Space& s)
{
    for (int64_t delta : s.pending)
        event(s, s.pendingTs, delta, true);
    s.pending.clear();
}

void LiveSeries::alloc(int64_t space, int64_t owner, int64_t ts, int64_t size)
{
    note(ts);
    Space* s = at(space, owner);
    if (!s)
        return;
    if (ts < s->lastTs || ts < 0) {
        spoil(space);
        return;
    }
    s->lastTs = ts;
    if (ts != s->pendingTs) {
        flushPending(*s);
        s->pendingTs = ts;
    }
    s->pending.push_back(size);
}

void LiveSeries::free(int64_t space, int64_t owner, int64_t ts, int64_t allocTs, int64_t size)
{
    note(ts);
    Space* s = at(space, owner);
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
        flushPending(*s);
    event(*s, ts, delta, false);
}

void LiveSeries::spoil(int64_t space)
{
    if (Space* s = slot(space)) {
        s->spoiled = true;
        s->buckets = {};
        s->pending = {};
    }
}

// Finest buckets of at most ~65536 over the run, each a whole number of every space's buckets,
// starting on a multiple of their width: then every space's buckets fall into exactly one.
trace::SeriesParams LiveSeries::params() const
{
    if (m_lo > m_hi)
        return trace::chooseSeriesParams(0, 0);
    int shift = 0;
    for (const Space& s : m_spaces)
        if (!s.spoiled && !s.buckets.empty())
            shift = std::max(shift, s.shift);
    trace::SeriesParams p = trace::chooseSeriesParams(m_lo, m_hi);
    const int64_t unit = int64_t(1) << shift;
    p.baseNs = (p.baseNs + unit - 1) / unit * unit;
    p.originNs = m_lo / p.baseNs * p.baseNs;
    const int64_t span = m_hi - p.originNs + 1;
    p.levels = 1;
    while ((p.baseNs << (p.levels - 1)) < span && p.levels < 62)
        ++p.levels;
    return p;
}

trace::SeriesParams LiveSeries::finish(RowWriter& out)
{
    const trace::SeriesParams p = params();
    for (size_t id = 0; id < m_spaces.size(); ++id) {
        Space& s = m_spaces[id];
        if (s.spoiled)
            continue;
        flushPending(s);
        if (s.buckets.empty())
            continue;
        trace::SeriesWriter writer(p, static_cast<int64_t>(id));
        bool ok = true;
        for (const Bucket& b : s.buckets)
            ok = ok && writer.bucket(b.index << s.shift, b.minLive, b.maxLive, b.lastLive, b.allocs, b.frees).ok();
        if (!ok) {
            spoil(static_cast<int64_t>(id)); // cannot happen (buckets are in time order); finalize would cope
            continue;
        }
        for (trace::RowBatch& rows : writer.finish())
            out.seriesRows(std::move(rows));
        s.buckets = {};
    }
    return p;
}

} // namespace tidemark::collector
