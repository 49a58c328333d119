// Timeline queries: pixel columns of the live-bytes envelope from the level-of-detail series (or
// from exact events when zoomed in further than the finest level), exact live bytes at an instant,
// the peak of a space, and reserved bytes of pool heaps.
#include "analysis/internal.h"
#include "analysis/queries.h"

#include <algorithm>
#include <limits>

namespace tidemark::analysis {

namespace {

struct Columns {
    TimeNs t0 = 0;
    TimeNs t1 = 0;
    int n = 0;
    TimeNs start(int i) const { return t0 + static_cast<TimeNs>((static_cast<__int128>(t1 - t0) * i) / n); }
    int of(TimeNs t) const
    {
        if (t <= t0)
            return 0;
        auto i = static_cast<int>((static_cast<__int128>(t - t0) * n) / (t1 - t0));
        return std::clamp(i, 0, n - 1);
    }
};

// Columns no bucket started in take the carried value as their last; columns no bucket touched
// take it as their whole envelope.
void fillGaps(std::vector<TimelineBucket>& cols, const std::vector<bool>& touched, const std::vector<bool>& started,
    int64_t carry)
{
    for (size_t i = 0; i < cols.size(); ++i) {
        if (!touched[i]) {
            cols[i].minLiveBytes = cols[i].maxLiveBytes = carry;
        } else {
            cols[i].minLiveBytes = std::min(cols[i].minLiveBytes, started[i] ? cols[i].minLiveBytes : carry);
            cols[i].maxLiveBytes = std::max(cols[i].maxLiveBytes, started[i] ? cols[i].maxLiveBytes : carry);
        }
        if (!started[i])
            cols[i].lastLiveBytes = carry;
        carry = cols[i].lastLiveBytes;
    }
}

void widen(TimelineBucket& col, bool& touched, int64_t mn, int64_t mx)
{
    if (!touched) {
        col.minLiveBytes = mn;
        col.maxLiveBytes = mx;
        touched = true;
    } else {
        col.minLiveBytes = std::min(col.minLiveBytes, mn);
        col.maxLiveBytes = std::max(col.maxLiveBytes, mx);
    }
}

Result<int64_t> seriesCarry(Recording& rec, int64_t spaceId, int level, int64_t bucket)
{
    auto st = rec.db().prepare("SELECT last_live_bytes FROM series WHERE space_id = ? AND level = ? AND bucket < ? "
                               "ORDER BY bucket DESC LIMIT 1");
    if (!st)
        return st.error();
    st->bind(1, spaceId).bind(2, level).bind(3, bucket);
    int64_t v = st->step() ? st->int64(0) : 0;
    if (!st->status())
        return st->status().error();
    return v;
}

Status fromSeries(Recording& rec, Timeline& tl, const Columns& c, int level)
{
    const auto& p = rec.caches().series;
    int64_t b0 = std::max<int64_t>(0, p.bucketOf(c.t0, level));
    int64_t b1 = std::max<int64_t>(0, p.bucketOf(c.t1 - 1, level));
    auto carry = seriesCarry(rec, tl.spaceId, level, b0);
    if (!carry)
        return carry.error();
    auto st = rec.db().prepare("SELECT start_ts_ns, min_live_bytes, max_live_bytes, last_live_bytes, allocs, frees FROM "
                               "series WHERE space_id = ? AND level = ? AND bucket BETWEEN ? AND ? ORDER BY bucket");
    if (!st)
        return st.error();
    st->bind(1, tl.spaceId).bind(2, level).bind(3, b0).bind(4, b1);
    // A bucket widens the envelope of every column it overlaps (so the column holding any instant
    // contains its exact value) and gives its last value and counts to the column it starts in.
    std::vector<bool> touched(c.n, false), started(c.n, false);
    TimeNs width = p.width(level);
    while (st->step()) {
        TimeNs start = st->int64(0);
        int first = c.of(std::max(start, c.t0));
        int last = c.of(std::min(start + width, c.t1) - 1);
        for (int i = first; i <= last; ++i) {
            bool t = touched[i];
            widen(tl.buckets[i], t, st->int64(1), st->int64(2));
            touched[i] = t;
        }
        started[first] = true; // a bucket straddling t0 counts as starting in column 0
        tl.buckets[first].lastLiveBytes = st->int64(3);
        tl.buckets[first].allocs += st->int64(4);
        tl.buckets[first].frees += st->int64(5);
    }
    if (!st->status())
        return st->status();
    fillGaps(tl.buckets, touched, started, *carry);
    return okStatus();
}

Status fromEvents(Recording& rec, Timeline& tl, const Columns& c)
{
    auto live = liveBytesAt(rec, tl.spaceId, c.t0 - 1);
    if (!live)
        return live.error();
    auto stream = EventStream::open(rec.db(), tl.spaceId, c.t0, c.t1);
    if (!stream)
        return stream.error();
    std::vector<bool> touched(c.n, false);
    int64_t value = *live;
    int64_t polled = 0;
    LiveEvent ev;
    while (stream->next(ev)) {
        if (pollCancel(rec, polled))
            return cancelledError();
        int i = c.of(ev.ts);
        bool t = touched[i];
        widen(tl.buckets[i], t, value, value); // the value before the column's first event
        value += ev.delta;
        widen(tl.buckets[i], t, value, value);
        touched[i] = t;
        tl.buckets[i].lastLiveBytes = value;
        (ev.isAlloc ? tl.buckets[i].allocs : tl.buckets[i].frees) += 1;
    }
    if (auto s = stream->status(); !s)
        return s;
    fillGaps(tl.buckets, touched, touched, *live);
    return okStatus();
}

void fillReserved(Recording& rec, Timeline& tl, const Columns& c)
{
    auto heaps = loadHeaps(rec, tl.spaceId);
    if (!heaps || heaps->empty())
        return;
    tl.hasReserved = true;
    std::vector<std::pair<TimeNs, int64_t>> events;
    for (const auto& h : *heaps) {
        events.emplace_back(h.registerNs, h.sizeBytes);
        if (h.unregisterNs != std::numeric_limits<TimeNs>::max())
            events.emplace_back(h.unregisterNs, -h.sizeBytes);
    }
    std::sort(events.begin(), events.end());
    int64_t value = 0;
    size_t k = 0;
    while (k < events.size() && events[k].first < c.t0)
        value += events[k++].second;
    for (int i = 0; i < c.n; ++i) {
        TimeNs end = (i + 1 == c.n) ? c.t1 : c.start(i + 1);
        int64_t mx = value;
        while (k < events.size() && events[k].first < end) {
            value += events[k++].second;
            mx = std::max(mx, value);
        }
        tl.buckets[i].reservedMaxBytes = mx;
        tl.buckets[i].reservedLastBytes = value;
    }
}

} // namespace

Result<Timeline> timeline(Recording& rec, int64_t spaceId, TimeNs t0, TimeNs t1, int pixelWidth)
{
    if (pixelWidth <= 0 || t1 <= t0)
        return makeError(ErrorCode::Usage, "timeline needs t1 > t0 and a positive width");
    if (!rec.space(spaceId))
        return makeError(ErrorCode::NotFound, "no space with id " + std::to_string(spaceId));
    Columns c { t0, t1, pixelWidth };
    Timeline tl;
    tl.spaceId = spaceId;
    tl.t0 = t0;
    tl.t1 = t1;
    tl.buckets.resize(pixelWidth);
    for (int i = 0; i < pixelWidth; ++i) {
        tl.buckets[i].startNs = c.start(i);
        tl.buckets[i].endNs = (i + 1 == pixelWidth) ? t1 : c.start(i + 1);
    }
    const auto& p = rec.caches().series;
    TimeNs columnWidth = (t1 - t0) / pixelWidth;
    Status s = okStatus();
    if (p.levels > 0 && p.width(0) <= columnWidth) {
        int level = 0;
        while (level + 1 < p.levels && p.width(level + 1) <= columnWidth)
            ++level;
        tl.level = level;
        s = fromSeries(rec, tl, c, level);
    } else {
        tl.exact = true;
        s = fromEvents(rec, tl, c);
    }
    if (!s)
        return s.error();
    if (rec.space(spaceId)->isPool())
        fillReserved(rec, tl, c);
    return tl;
}

Result<int64_t> liveBytesAt(Recording& rec, int64_t spaceId, TimeNs t)
{
    const auto& p = rec.caches().series;
    if (p.levels == 0) {
        auto st = rec.db().prepare("SELECT coalesce(sum(size_bytes), 0) FROM allocations WHERE space_id = ?1 AND "
                                   "alloc_ts_ns <= ?2 AND (free_ts_ns IS NULL OR (free_ts_ns > ?2 AND free_ts_ns > alloc_ts_ns))");
        if (!st)
            return st.error();
        st->bind(1, spaceId).bind(2, t);
        int64_t v = st->step() ? st->int64(0) : 0;
        if (!st->status())
            return st->status().error();
        return v;
    }
    int64_t b = p.bucketOf(t, 0);
    if (b < 0)
        return int64_t { 0 };
    auto carry = seriesCarry(rec, spaceId, 0, b);
    if (!carry)
        return carry;
    auto stream = EventStream::open(rec.db(), spaceId, p.bucketStart(b, 0), t == std::numeric_limits<TimeNs>::max() ? t : t + 1);
    if (!stream)
        return stream.error();
    int64_t value = *carry;
    LiveEvent ev;
    while (stream->next(ev))
        value += ev.delta;
    if (auto s = stream->status(); !s)
        return s.error();
    return value;
}

Result<std::vector<int64_t>> liveBytesAtEach(Recording& rec, int64_t spaceId, const std::vector<TimeNs>& times)
{
    std::vector<int64_t> out(times.size(), 0);
    if (times.empty())
        return out;
    std::vector<size_t> order(times.size());
    for (size_t i = 0; i < order.size(); ++i)
        order[i] = i;
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return times[a] < times[b]; });
    const auto& p = rec.caches().series;
    int64_t b = p.levels == 0 ? -1 : p.bucketOf(times[order.front()], 0);
    if (b < 0) { // no series, or before it: one query per time
        for (size_t i : order) {
            auto v = liveBytesAt(rec, spaceId, times[i]);
            if (!v)
                return v.error();
            out[i] = *v;
        }
        return out;
    }
    // One pass over the events from the bucket of the earliest time to the latest, every time
    // sampled on the way: each time gets the events at or before it, as liveBytesAt does.
    auto carry = seriesCarry(rec, spaceId, 0, b);
    if (!carry)
        return carry.error();
    TimeNs last = times[order.back()];
    auto stream = EventStream::open(rec.db(), spaceId, p.bucketStart(b, 0),
        last == std::numeric_limits<TimeNs>::max() ? last : last + 1);
    if (!stream)
        return stream.error();
    int64_t value = *carry;
    size_t k = 0;
    LiveEvent ev;
    while (k < order.size() && stream->next(ev)) {
        for (; k < order.size() && times[order[k]] < ev.ts; ++k)
            out[order[k]] = value;
        value += ev.delta;
    }
    if (auto s = stream->status(); !s)
        return s.error();
    for (; k < order.size(); ++k)
        out[order[k]] = value;
    return out;
}

static Result<PeakPoint> findPeak(Recording& rec, int64_t spaceId)
{
    const auto& p = rec.caches().series;
    PeakPoint best { 0, rec.startNs() };
    TimeNs from = std::numeric_limits<TimeNs>::min();
    TimeNs to = std::numeric_limits<TimeNs>::max();
    int64_t value = 0;
    if (p.levels > 0) {
        auto st = rec.db().prepare("SELECT bucket, max_live_bytes FROM series WHERE space_id = ? AND level = 0 "
                                   "ORDER BY max_live_bytes DESC, bucket ASC LIMIT 1");
        if (!st)
            return st.error();
        st->bind(1, spaceId);
        if (!st->step())
            return best; // no events in this space
        int64_t bucket = st->int64(0);
        if (st->int64(1) <= 0)
            return best;
        auto carry = seriesCarry(rec, spaceId, 0, bucket);
        if (!carry)
            return carry.error();
        value = *carry;
        from = p.bucketStart(bucket, 0);
        to = from + p.width(0);
    }
    auto stream = EventStream::open(rec.db(), spaceId, from, to);
    if (!stream)
        return stream.error();
    LiveEvent ev;
    int64_t polled = 0;
    while (stream->next(ev)) {
        if (pollCancel(rec, polled))
            return cancelledError();
        value += ev.delta;
        if (value > best.bytes) {
            best.bytes = value;
            best.ts = ev.ts;
        }
    }
    if (auto s = stream->status(); !s)
        return s.error();
    return best;
}

Result<PeakPoint> locatePeak(Recording& rec, int64_t spaceId)
{
    auto& peaks = rec.caches().peaks;
    if (auto it = peaks.find(spaceId); it != peaks.end())
        return it->second;
    auto found = findPeak(rec, spaceId);
    if (found)
        peaks.emplace(spaceId, *found);
    return found;
}

Result<SpaceShare> spaceShare(Recording& rec, int64_t spaceId)
{
    auto& shares = rec.caches().shares;
    if (auto it = shares.find(spaceId); it != shares.end())
        return it->second;
    SpaceShare share;
    auto table = rec.db().queryInt("SELECT coalesce(max(id), 0) FROM allocations");
    if (!table)
        return table.error();
    share.tableRows = *table;
    if (const auto& p = rec.caches().series; p.levels > 0) {
        auto st = rec.db().prepare("SELECT coalesce(sum(allocs), 0) FROM series WHERE space_id = ? AND level = ?");
        if (!st)
            return st.error();
        st->bind(1, spaceId).bind(2, p.levels - 1);
        if (st->step())
            share.rows = st->int64(0);
        if (!st->status())
            return st->status().error();
    }
    shares.emplace(spaceId, share);
    return share;
}

Result<std::vector<HeapSpan>> loadHeaps(Recording& rec, int64_t poolSpaceId)
{
    auto st = rec.db().prepare("SELECT id, address, size_bytes, register_ts_ns, unregister_ts_ns, usage, name_id FROM "
                               "pool_heaps WHERE space_id = ? ORDER BY register_ts_ns, id");
    if (!st)
        return st.error();
    st->bind(1, poolSpaceId);
    std::vector<HeapSpan> heaps;
    while (st->step()) {
        HeapSpan h;
        h.id = st->int64(0);
        h.address = st->int64(1);
        h.sizeBytes = st->int64(2);
        h.registerNs = st->int64(3);
        h.unregisterNs = st->isNull(4) ? std::numeric_limits<TimeNs>::max() : st->int64(4);
        h.usage = st->isNull(5) ? std::string() : st->text(5);
        h.nameId = st->isNull(6) ? 0 : st->int64(6);
        heaps.push_back(std::move(h));
    }
    if (!st->status())
        return st->status().error();
    return heaps;
}

int64_t reservedAt(const std::vector<HeapSpan>& heaps, TimeNs t)
{
    int64_t v = 0;
    for (const auto& h : heaps)
        if (h.registerNs <= t && h.unregisterNs > t)
            v += h.sizeBytes;
    return v;
}

PeakPoint reservedPeak(const std::vector<HeapSpan>& heaps)
{
    std::vector<std::pair<TimeNs, int64_t>> events;
    for (const auto& h : heaps) {
        events.emplace_back(h.registerNs, h.sizeBytes);
        if (h.unregisterNs != std::numeric_limits<TimeNs>::max())
            events.emplace_back(h.unregisterNs, -h.sizeBytes);
    }
    std::sort(events.begin(), events.end()); // at equal times the release (negative) comes first
    PeakPoint best;
    int64_t v = 0;
    for (const auto& [t, d] : events) {
        v += d;
        if (v > best.bytes) {
            best.bytes = v;
            best.ts = t;
        }
    }
    return best;
}

} // namespace tidemark::analysis
