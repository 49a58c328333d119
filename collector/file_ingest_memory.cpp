// Pass 2 of a spool file, in time order: allocation lifetimes (pairing frees with the live
// allocation of the same space and address), the same allocation reported by two sources stored
// once, failed allocations with what was live, and NVTX memory-extension heaps and regions.
#include "collector/file_ingest.h"

namespace tidemark::collector {

using wire::Kind;

namespace {

    std::optional<std::string> errorName(uint16_t api, int32_t code)
    {
        // Only the out-of-memory codes are named; others keep their number.
        if (api >= 32 && api < 64 && code == 2)
            return "cudaErrorMemoryAllocation";
        if (api >= 64 && api < 96 && code == 2)
            return "CUDA_ERROR_OUT_OF_MEMORY";
        if (api >= 1 && api < 32 && code == 12)
            return "ENOMEM";
        return std::nullopt;
    }

    std::optional<int64_t> known(uint64_t v)
    {
        return v == UINT64_MAX ? std::nullopt : std::optional<int64_t>(static_cast<int64_t>(v));
    }

} // namespace

void FileIngest::onTimeOrder(uint32_t tid, const wire::RecordHeader& r)
{
    switch (static_cast<Kind>(r.kind)) {
    case Kind::HostAlloc: {
        const auto& a = recordAs<wire::HostAllocRecord>(r);
        onAlloc(tid,
            Live { m_hostSpace, threadOf(tid), a.address, a.size, a.ts_ns, callsiteOf(a.stack_id, a.ts_ns),
                rangeOf(a.range_id), 0, 0, 0, kSourcePreload, a.api },
            kSourcePreload, a.ts_ns);
        break;
    }
    case Kind::HostFree: {
        const auto& f = recordAs<wire::HostFreeRecord>(r);
        if (f.address)
            onFree(m_hostSpace, f.address, f.api, kSourcePreload, f.ts_ns);
        break;
    }
    case Kind::Alloc: {
        const auto& a = recordAs<wire::AllocRecord>(r);
        int64_t space = m_ctx.spaces.get(static_cast<SpaceKind>(a.space_kind), a.device);
        onAlloc(tid,
            Live { space, threadOf(tid), a.address, a.size, a.ts_ns, callsiteOf(a.stack_id, a.ts_ns),
                rangeOf(a.range_id), 0, 0, a.stream, a.source, a.api },
            a.source, a.ts_ns);
        break;
    }
    case Kind::Free: {
        const auto& f = recordAs<wire::FreeRecord>(r);
        if (f.address)
            onFree(
                m_ctx.spaces.get(static_cast<SpaceKind>(f.space_kind), f.device), f.address, f.api, f.source, f.ts_ns);
        break;
    }
    case Kind::AllocFailed:
        onAllocFailed(tid, recordAs<wire::AllocFailedRecord>(r));
        break;
    case Kind::HeapRegister:
        onHeapRegister(recordAs<wire::HeapRegisterRecord>(r));
        break;
    case Kind::HeapUnregister:
        onHeapEvent(recordAs<wire::HeapEventRecord>(r), true);
        break;
    case Kind::HeapReset:
        onHeapEvent(recordAs<wire::HeapEventRecord>(r), false);
        break;
    case Kind::RegionRegister:
        onRegionRegister(tid, recordAs<wire::RegionRegisterRecord>(r));
        break;
    case Kind::RegionUnregister:
    case Kind::RegionResize:
    case Kind::RegionName:
        onRegionEvent(tid, recordAs<wire::RegionEventRecord>(r), static_cast<Kind>(r.kind));
        break;
    default:
        break;
    }
}

FileIngest::Live* FileIngest::findLive(int64_t space, uint64_t address)
{
    if (space == m_hostSpace) {
        return m_hostLive.find(address);
    }
    auto it = m_otherLive.find({ space, address });
    return it == m_otherLive.end() ? nullptr : &it->second;
}

void FileIngest::eraseLive(int64_t space, uint64_t address)
{
    if (space == m_hostSpace)
        m_hostLive.erase(address);
    else
        m_otherLive.erase({ space, address });
}

void FileIngest::addLiveBytes(int64_t space, int64_t delta)
{
    if (static_cast<size_t>(space) >= m_liveBytes.size())
        m_liveBytes.resize(space + 1, 0);
    m_liveBytes[space] = trace::addLiveSaturating(m_liveBytes[space], delta);
}

void FileIngest::onAlloc(uint32_t tid, Live live, uint32_t source, uint64_t ts)
{
    (void)tid;
    if (Live* cur = findLive(live.space, live.address)) {
        if ((cur->mask & source) == 0) {
            // A second source reporting an allocation that is already live: one row, both bits
            // (merge rule of docs/gpu-capture.md: attributes from the preferred source).
            mergeInto(*cur, live, source, ts);
            return;
        }
        // The same source allocating a live address means its free was lost; end the old row here.
        ++m_count.replaced_live;
        closeLive(*cur, ts, 0, 0);
    } else if (live.space != m_hostSpace) {
        auto rc = m_recentlyClosed.find({ live.space, live.address });
        if (rc != m_recentlyClosed.end() && (rc->second.mask & source) == 0 && ts <= rc->second.free_ts) {
            // Reported late (e.g. a CUPTI activity buffer) for an allocation another source already closed.
            rc->second.mask |= source;
            m_ctx.out.row(m_ctx.out.addSourceMask, static_cast<int64_t>(source), rc->second.id);
            ++m_count.merged_allocations;
            return;
        }
    }
    live.mask = source;
    live.primary = source;
    addLiveBytes(live.space, static_cast<int64_t>(live.size));
    m_ctx.series.alloc(live.space, m_plan.id, static_cast<int64_t>(live.ts), static_cast<int64_t>(live.size));
    ++m_count.allocations;
    m_count.allocation_bytes += live.size;
    if (live.space != m_hostSpace && !m_ctx.spaces.isPool(live.space))
        m_extents[live.address] = { live.space, live.size };
    if (live.space == m_hostSpace)
        m_hostLive.put(live.address, live);
    else
        m_otherLive.emplace(std::make_pair(live.space, live.address), live);
}

void FileIngest::mergeInto(Live& cur, const Live& other, uint32_t source, uint64_t ts)
{
    // Preference: preload hook, then CUPTI callback, then CUPTI activity (the lower bit wins).
    bool preferred = source < cur.primary;
    m_ctx.series.note(static_cast<int64_t>(ts));
    if (ts < cur.ts)
        m_ctx.series.spoil(cur.space); // the row will start earlier than the event the series saw
    auto pick = [&](int64_t& mine, int64_t theirs) {
        if (theirs && (preferred || !mine))
            mine = theirs;
    };
    pick(cur.callsite, other.callsite);
    pick(cur.range, other.range);
    pick(cur.thread, other.thread);
    if (preferred) {
        cur.api = other.api;
        cur.primary = source;
    }
    if (!cur.stream)
        cur.stream = other.stream;
    cur.mask |= source;
    cur.ts = std::min(cur.ts, ts);
    ++m_count.merged_allocations;
}

int64_t FileIngest::writeAllocation(const Live& l, std::optional<int64_t> freeTs, std::optional<int64_t> freeApi)
{
    return m_ctx.out.allocation({ .space_id = l.space,
        .process_id = m_plan.id,
        .thread_id = idOrNull(l.thread),
        .api = static_cast<Api>(l.api),
        .address = static_cast<int64_t>(l.address),
        .size_bytes = static_cast<int64_t>(l.size),
        .alloc_ts_ns = static_cast<int64_t>(l.ts),
        .free_ts_ns = freeTs,
        .free_api = freeApi ? std::optional<Api>(static_cast<Api>(*freeApi)) : std::nullopt,
        .callsite_id = idOrNull(l.callsite),
        .range_id = idOrNull(l.range),
        .heap_id = idOrNull(l.heap),
        .stream = l.stream ? std::optional<int64_t>(static_cast<int64_t>(l.stream)) : std::nullopt,
        .source_mask = l.mask,
        .name_id = idOrNull(l.name) });
}

void FileIngest::closeLive(Live& live, uint64_t ts, uint16_t api, uint32_t source)
{
    int64_t id = writeAllocation(live, static_cast<int64_t>(ts), api ? std::optional<int64_t>(api) : std::nullopt);
    addLiveBytes(live.space, -static_cast<int64_t>(live.size));
    m_ctx.series.free(
        live.space, m_plan.id, static_cast<int64_t>(ts), static_cast<int64_t>(live.ts), static_cast<int64_t>(live.size));
    ++m_count.frees;
    int64_t space = live.space;
    uint64_t address = live.address;
    if (space != m_hostSpace) {
        m_recentlyClosed[{ space, address }] = { id, live.ts, ts, live.mask, source };
        if (auto e = m_extents.find(address); e != m_extents.end() && e->second.first == space)
            m_extents.erase(e);
    }
    eraseLive(space, address); // invalidates `live`
}

void FileIngest::onFree(int64_t space, uint64_t address, uint16_t api, uint32_t source, uint64_t ts)
{
    if (Live* live = findLive(space, address)) {
        closeLive(*live, ts, api, source);
        return;
    }
    if (space != m_hostSpace) {
        auto rc = m_recentlyClosed.find({ space, address });
        if (rc != m_recentlyClosed.end() && (rc->second.mask & source) && !(rc->second.freed_mask & source)) {
            rc->second.freed_mask |= source; // the second source's view of a free already applied
            if (ts > rc->second.free_ts) {
                rc->second.free_ts = ts; // the merged row frees at the latest report
                m_ctx.out.row(m_ctx.out.extendFree, ts, rc->second.id);
                m_ctx.series.note(static_cast<int64_t>(ts));
                m_ctx.series.spoil(space);
            }
            ++m_count.duplicate_frees;
            return;
        }
    } else if (m_unmatchedHost.size() < kKeptUnmatchedFrees) {
        m_unmatchedHost.push_back({ address, ts });
    }
    ++m_count.unmatched_frees;
}

void FileIngest::onAllocFailed(uint32_t tid, const wire::AllocFailedRecord& r)
{
    int64_t space = m_ctx.spaces.get(static_cast<SpaceKind>(r.space_kind), r.device);
    m_ctx.spaces.noteCapacity(space, r.device_total_bytes);
    int64_t thread = threadOf(tid);
    int64_t callsite = callsiteOf(r.stack_id, r.ts_ns);
    int64_t range = rangeOf(r.range_id);
    // The hook and the CUPTI callback report one failure twice (same space, size and thread, within
    // microseconds): one row; the hook's details (it has cudaMemGetInfo) win.
    constexpr uint64_t kSameFailureNs = 200000;
    for (RecentFailure& f : m_recentFailures) {
        if (f.space != space || f.thread != thread || f.size != r.size || (f.mask & r.source)
            || (r.ts_ns > f.ts ? r.ts_ns - f.ts : f.ts - r.ts_ns) > kSameFailureNs)
            continue;
        bool hook = (r.source & kSourcePreload) != 0;
        auto ifHook = [&](std::optional<int64_t> v) { return hook ? v : std::nullopt; };
        m_ctx.out.row(m_ctx.out.mergeFailed, static_cast<int64_t>(r.source), ifHook(int64_t(r.api)),
            ifHook(int64_t(r.error_code)), hook ? errorName(r.api, r.error_code) : std::nullopt,
            ifHook(known(r.device_free_bytes)), ifHook(known(r.device_total_bytes)), ifHook(idOrNull(callsite)),
            ifHook(idOrNull(range)), f.id);
        f.mask |= r.source;
        ++m_count.merged_failures;
        return;
    }
    int64_t live = static_cast<size_t>(space) < m_liveBytes.size() ? m_liveBytes[space] : 0;
    int64_t id = m_ctx.next_failed++;
    m_ctx.out.tableRow(m_ctx.out.failed,
        trace::FailedAllocationRow { .id = id,
            .space_id = space,
            .process_id = m_plan.id,
            .thread_id = thread,
            .api = static_cast<Api>(r.api),
            .size_bytes = static_cast<int64_t>(r.size),
            .ts_ns = static_cast<int64_t>(r.ts_ns),
            .callsite_id = idOrNull(callsite),
            .range_id = idOrNull(range),
            .stream = r.stream ? std::optional<int64_t>(static_cast<int64_t>(r.stream)) : std::nullopt,
            .error_code = static_cast<int64_t>(r.error_code),
            .error_name = errorName(r.api, r.error_code),
            .device_free_bytes = known(r.device_free_bytes),
            .device_total_bytes = known(r.device_total_bytes),
            .live_bytes = live,
            .source_mask = static_cast<int64_t>(r.source) });
    if (m_recentFailures.size() >= 16)
        m_recentFailures.erase(m_recentFailures.begin());
    m_recentFailures.push_back({ id, space, thread, r.size, r.ts_ns, r.source });
    ++m_count.failed;
}

int64_t FileIngest::parentSpaceOf(uint64_t address) const
{
    auto it = m_extents.upper_bound(address);
    if (it != m_extents.begin()) {
        --it;
        if (address - it->first < it->second.second)
            return it->second.first;
    }
    // Host sub-allocators register the block they got from malloc.
    if (m_hostLive.contains(address))
        return m_hostSpace;
    return 0;
}

} // namespace tidemark::collector
