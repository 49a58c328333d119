// Pools: the segment map (blocks and free extents inside each heap at an instant) and external
// fragmentation over time (1 − largest free extent / total free, bytes stranded), with the
// allocation pattern that produced the worst moment.
#include "analysis/internal.h"
#include "analysis/queries.h"
#include "analysis/report.h"

#include <algorithm>
#include <cstdio>
#include <limits>
#include <map>
#include <random>

namespace tidemark::analysis {

namespace {

struct Region {
    int64_t size = 0;
    int64_t callsite = 0;
};
using HeapState = std::map<int64_t, Region>; // address -> region

// Free extents of one heap given its live regions (overlaps tolerated: the cursor never goes back).
template<typename F>
void forEachGap(const HeapSpan& heap, const HeapState& regions, F&& onGap)
{
    int64_t cursor = heap.address;
    int64_t end = heap.address + heap.sizeBytes;
    for (const auto& [addr, r] : regions) {
        int64_t a = std::clamp(addr, heap.address, end);
        if (a > cursor)
            onGap(cursor - heap.address, a - cursor);
        cursor = std::max(cursor, std::min(end, addr + r.size));
    }
    if (cursor < end)
        onGap(cursor - heap.address, end - cursor);
}

int64_t binOf(int64_t size)
{
    int64_t b = 1;
    while (b < size && b < (int64_t { 1 } << 62))
        b <<= 1;
    return b;
}

void addToBins(std::map<int64_t, SizeBin>& bins, int64_t size)
{
    auto& bin = bins[binOf(size)];
    bin.upToBytes = binOf(size);
    bin.count += 1;
    bin.bytes += size;
}

std::vector<SizeBin> binsOf(const std::map<int64_t, SizeBin>& bins)
{
    std::vector<SizeBin> out;
    for (const auto& [k, v] : bins)
        out.push_back(v);
    return out;
}

FragmentationPoint measure(const std::vector<HeapSpan>& heaps, const std::map<int64_t, HeapState>& state, TimeNs t,
    int64_t medianRequest)
{
    static const HeapState kEmpty;
    FragmentationPoint p;
    p.ts = t;
    for (const auto& h : heaps) {
        if (h.registerNs > t || h.unregisterNs <= t)
            continue;
        p.reservedBytes += h.sizeBytes;
        auto it = state.find(h.id);
        forEachGap(h, it == state.end() ? kEmpty : it->second, [&](int64_t, int64_t size) {
            p.freeBytes += size;
            p.largestFreeBytes = std::max(p.largestFreeBytes, size);
        });
    }
    (void)medianRequest;
    p.usedBytes = p.reservedBytes - p.freeBytes;
    p.strandedBytes = p.freeBytes - p.largestFreeBytes;
    p.fragmentation = p.freeBytes > 0 ? 1.0 - static_cast<double>(p.largestFreeBytes) / static_cast<double>(p.freeBytes) : 0.0;
    return p;
}

// Region sizes of the pool: median request (reservoir sample) and a histogram.
Status requestSizes(Recording& rec, int64_t poolSpaceId, Fragmentation& f)
{
    auto st = rec.db().prepare("SELECT size_bytes FROM allocations WHERE space_id = ? AND heap_id IS NOT NULL");
    if (!st)
        return st.error();
    st->bind(1, poolSpaceId);
    std::vector<int64_t> sample;
    std::map<int64_t, SizeBin> bins;
    std::mt19937_64 rng(7);
    int64_t seen = 0;
    while (st->step()) {
        int64_t size = st->int64(0);
        addToBins(bins, size);
        ++seen;
        if (sample.size() < 8192)
            sample.push_back(size);
        else if (auto k = std::uniform_int_distribution<int64_t>(0, seen - 1)(rng); k < 8192)
            sample[k] = size;
    }
    if (!st->status())
        return st->status();
    f.medianRequestBytes = percentileOf(sample, 0.5);
    f.requestSizes = binsOf(bins);
    return okStatus();
}

// Replays the pool's regions in time order, measuring at each sample time.
Status sweep(Recording& rec, const std::vector<HeapSpan>& heaps, int64_t poolSpaceId, const std::vector<TimeNs>& times,
    Fragmentation& f)
{
    auto allocs = rec.db().prepare("SELECT alloc_ts_ns, address, size_bytes, heap_id, coalesce(callsite_id, 0), id, "
                                   "coalesce(free_ts_ns, 9223372036854775807) FROM allocations "
                                   "WHERE space_id = ? AND heap_id IS NOT NULL ORDER BY alloc_ts_ns");
    auto frees = rec.db().prepare("SELECT free_ts_ns, address, heap_id, id, alloc_ts_ns FROM allocations WHERE space_id = ? AND "
                                  "heap_id IS NOT NULL AND free_ts_ns IS NOT NULL ORDER BY free_ts_ns");
    if (!allocs)
        return allocs.error();
    if (!frees)
        return frees.error();
    allocs->bind(1, poolSpaceId);
    frees->bind(1, poolSpaceId);
    std::map<int64_t, HeapState> state;
    bool hasA = allocs->step();
    bool hasF = frees->step();
    int64_t polled = 0;
    for (TimeNs t : times) {
        // Apply every event at or before t, frees first at equal times (as in liveBytesAt).
        while ((hasA && allocs->int64(0) <= t) || (hasF && frees->int64(0) <= t)) {
            if (pollCancel(rec, polled))
                return cancelledError();
            if (hasF && frees->int64(0) <= t && (!hasA || frees->int64(0) <= allocs->int64(0))) {
                if (frees->int64(0) > frees->int64(4))
                    state[frees->int64(2)].erase(frees->int64(1));
                hasF = frees->step();
            } else {
                if (allocs->int64(6) > allocs->int64(0)) // zero-lifetime regions are never live
                    state[allocs->int64(3)][allocs->int64(1)] = Region { allocs->int64(2), allocs->int64(4) };
                hasA = allocs->step();
            }
        }
        f.points.push_back(measure(heaps, state, t, f.medianRequestBytes));
    }
    if (!allocs->status())
        return allocs->status();
    return frees->status();
}

std::string explain(const Fragmentation& f, TimeNs start)
{
    const auto& w = f.worst;
    if (w.freeBytes == 0)
        return f.spaceName + " never had free memory inside its heaps: no external fragmentation.";
    char frag[32];
    std::snprintf(frag, sizeof frag, "%.2f", w.fragmentation);
    std::string s = "At " + humanDuration(w.ts - start) + ", " + f.spaceName + " had " + humanBytes(static_cast<double>(w.freeBytes))
        + " free inside " + humanBytes(static_cast<double>(w.reservedBytes)) + " reserved, but the largest free extent was "
        + humanBytes(static_cast<double>(w.largestFreeBytes)) + " (fragmentation " + frag + ")";
    if (w.strandedBytes > 0)
        s += "; " + humanBytes(static_cast<double>(w.strandedBytes))
            + " was stranded outside it (no single request can use it; the median request is "
            + humanBytes(static_cast<double>(f.medianRequestBytes)) + ")";
    s += ".";
    if (!f.pinningSites.empty())
        s += " The free gaps are pinned by blocks from " + f.pinningSites.front().label + ".";
    return s;
}

} // namespace

Result<SegmentMap> segmentMap(Recording& rec, int64_t poolSpaceId, TimeNs t)
{
    auto heaps = loadHeaps(rec, poolSpaceId);
    if (!heaps)
        return heaps.error();
    SegmentMap m;
    m.spaceId = poolSpaceId;
    m.ts = t;
    std::map<int64_t, size_t> index;
    for (const auto& h : *heaps) {
        if (h.registerNs > t || h.unregisterNs <= t)
            continue;
        HeapMap hm;
        hm.heapId = h.id;
        hm.address = h.address;
        hm.sizeBytes = h.sizeBytes;
        hm.usage = h.usage;
        hm.name = rec.stringAt(h.nameId);
        index[h.id] = m.heaps.size();
        m.heaps.push_back(std::move(hm));
    }
    auto st = rec.db().prepare("SELECT id, address, size_bytes, heap_id, coalesce(callsite_id, 0), coalesce(name_id, 0), "
                               "coalesce(range_id, 0) FROM allocations WHERE space_id = ?1 AND heap_id IS NOT NULL AND "
                               "alloc_ts_ns <= ?2 AND (free_ts_ns IS NULL OR free_ts_ns > ?2)");
    if (!st)
        return st.error();
    st->bind(1, poolSpaceId).bind(2, t);
    std::map<int64_t, HeapState> state;
    while (st->step()) {
        auto it = index.find(st->int64(3));
        if (it == index.end())
            continue;
        auto& hm = m.heaps[it->second];
        hm.blocks.push_back(Block { st->int64(0), st->int64(1) - hm.address, st->int64(2), rec.siteOf(st->int64(4)).label,
            rec.stringAt(st->int64(5)), rec.phaseOf(st->int64(6)) });
        state[hm.heapId][st->int64(1)] = Region { st->int64(2), st->int64(4) };
    }
    if (!st->status())
        return st->status().error();
    for (auto& hm : m.heaps) {
        std::sort(hm.blocks.begin(), hm.blocks.end(), [](const Block& a, const Block& b) { return a.offset < b.offset; });
        HeapSpan span;
        span.id = hm.heapId;
        span.address = hm.address;
        span.sizeBytes = hm.sizeBytes;
        forEachGap(span, state[hm.heapId], [&](int64_t off, int64_t size) {
            hm.free.push_back(Extent { off, size });
            hm.freeBytes += size;
            hm.largestFreeBytes = std::max(hm.largestFreeBytes, size);
        });
        hm.usedBytes = hm.sizeBytes - hm.freeBytes;
        hm.fragmentation = hm.freeBytes > 0 ? 1.0 - static_cast<double>(hm.largestFreeBytes) / static_cast<double>(hm.freeBytes) : 0.0;
        m.reservedBytes += hm.sizeBytes;
        m.usedBytes += hm.usedBytes;
        m.freeBytes += hm.freeBytes;
        m.largestFreeBytes = std::max(m.largestFreeBytes, hm.largestFreeBytes);
    }
    m.fragmentation = m.freeBytes > 0 ? 1.0 - static_cast<double>(m.largestFreeBytes) / static_cast<double>(m.freeBytes) : 0.0;
    return m;
}

Result<Fragmentation> fragmentation(Recording& rec, int64_t poolSpaceId, int samples, int top)
{
    const SpaceInfo* space = rec.space(poolSpaceId);
    if (!space)
        return makeError(ErrorCode::NotFound, "no space with id " + std::to_string(poolSpaceId));
    Fragmentation f;
    f.spaceId = poolSpaceId;
    f.spaceName = space->name;
    auto heaps = loadHeaps(rec, poolSpaceId);
    if (!heaps)
        return heaps.error();
    f.heaps = static_cast<int64_t>(heaps->size());
    if (heaps->empty()) {
        f.explanation = space->name + " registered no heaps: fragmentation cannot be measured.";
        return f;
    }
    if (auto s = requestSizes(rec, poolSpaceId, f); !s)
        return s.error();
    samples = std::max(2, samples);
    std::vector<TimeNs> times;
    TimeNs t0 = rec.startNs(), t1 = rec.endNs();
    for (int i = 0; i < samples; ++i)
        times.push_back(t0 + static_cast<TimeNs>((static_cast<__int128>(t1 - t0) * i) / (samples - 1)));
    if (auto pk = locatePeak(rec, poolSpaceId))
        times.push_back(pk->ts);
    std::sort(times.begin(), times.end());
    times.erase(std::unique(times.begin(), times.end()), times.end());
    if (auto s = sweep(rec, *heaps, poolSpaceId, times, f); !s)
        return s.error();
    double sum = 0;
    for (const auto& p : f.points) {
        sum += p.fragmentation;
        bool better = p.strandedBytes > f.worst.strandedBytes
            || (p.strandedBytes == f.worst.strandedBytes && p.fragmentation > f.worst.fragmentation);
        if (better)
            f.worst = p;
    }
    f.meanFragmentation = f.points.empty() ? 0.0 : sum / static_cast<double>(f.points.size());
    if (f.worst.freeBytes > 0) {
        auto map = segmentMap(rec, poolSpaceId, f.worst.ts);
        if (!map)
            return map.error();
        BreakdownBuilder pins;
        std::map<int64_t, SizeBin> gaps;
        int64_t pinned = 0;
        for (const auto& hm : map->heaps) {
            for (const auto& e : hm.free)
                addToBins(gaps, e.sizeBytes);
            // A block pins free memory when a free extent touches it on either side.
            size_t e = 0;
            for (const auto& b : hm.blocks) {
                while (e < hm.free.size() && hm.free[e].offset + hm.free[e].sizeBytes < b.offset)
                    ++e;
                bool before = e < hm.free.size() && hm.free[e].offset + hm.free[e].sizeBytes == b.offset;
                bool after = (e < hm.free.size() && hm.free[e].offset == b.offset + b.sizeBytes)
                    || (e + 1 < hm.free.size() && hm.free[e + 1].offset == b.offset + b.sizeBytes);
                if (before || after) {
                    pins.add(b.site, b.site, b.sizeBytes, 0);
                    pinned += b.sizeBytes;
                }
            }
        }
        f.pinningSites = pins.take(pinned, top);
        f.freeExtentSizes = binsOf(gaps);
    }
    f.explanation = explain(f, rec.startNs());
    return f;
}

} // namespace tidemark::analysis
