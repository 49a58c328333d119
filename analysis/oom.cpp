// OOM forensics: for each failed allocation, whether it failed for capacity (the process's own
// memory plus the request exceeds the device), fragmentation (the pools over the device held enough
// free memory but no extent large enough) or memory held outside the process (others used it).
#include "analysis/internal.h"
#include "analysis/queries.h"
#include "analysis/report.h"

#include <algorithm>

namespace tidemark::analysis {

namespace {

struct FailedRow {
    int64_t id = 0, space = 0, size = 0, api = 0, callsite = 0, range = 0;
    TimeNs ts = 0;
    std::string errorName;
    std::optional<int64_t> deviceFree, deviceTotal, liveBytes;
};

std::optional<int64_t> sampledFree(Recording& rec, int64_t spaceId, TimeNs ts)
{
    auto st = rec.db().prepare("SELECT free_bytes FROM samples WHERE space_id = ? AND ts_ns <= ? AND free_bytes IS NOT NULL "
                               "ORDER BY ts_ns DESC LIMIT 1");
    if (!st)
        return std::nullopt;
    st->bind(1, spaceId).bind(2, ts);
    if (st->step())
        return st->int64(0);
    return std::nullopt;
}

Status classify(Recording& rec, const FailedRow& row, OomEvent& e, int top)
{
    const SpaceInfo* space = rec.space(row.space);
    // The device-level space: a pool's parent, or the space itself.
    const SpaceInfo* device = space;
    if (space && space->isPool() && space->parentSpaceId)
        device = rec.space(*space->parentSpaceId);
    e.capacityBytes = row.deviceTotal ? row.deviceTotal : (device ? device->capacityBytes : std::nullopt);
    e.deviceFreeBytes = row.deviceFree ? row.deviceFree : (device ? sampledFree(rec, device->id, row.ts) : std::nullopt);
    int64_t deviceLive = 0;
    if (device) {
        auto live = liveBytesAt(rec, device->id, row.ts);
        if (!live)
            return live.error();
        deviceLive = *live;
    }
    e.liveBytes = row.liveBytes ? *row.liveBytes : deviceLive;
    // Pools over this device: free memory inside their heaps at the failure.
    for (const auto& s : rec.spaces()) {
        bool related = s.id == row.space || (s.isPool() && device && s.parentSpaceId && *s.parentSpaceId == device->id);
        if (!s.isPool() || !related)
            continue;
        auto map = segmentMap(rec, s.id, row.ts);
        if (!map)
            return map.error();
        e.poolFreeBytes = e.poolFreeBytes.value_or(0) + map->freeBytes;
        e.poolLargestFreeBytes = std::max(e.poolLargestFreeBytes.value_or(0), map->largestFreeBytes);
    }
    std::string req = humanBytes(static_cast<double>(row.size));
    if (e.poolFreeBytes && *e.poolFreeBytes >= row.size && e.poolLargestFreeBytes.value_or(0) < row.size) {
        e.verdict = "fragmentation";
        e.explanation = "the pools held " + humanBytes(static_cast<double>(*e.poolFreeBytes)) + " free, enough for the " + req
            + " request, but the largest free extent was " + humanBytes(static_cast<double>(*e.poolLargestFreeBytes));
    } else if (e.capacityBytes) {
        int64_t cap = *e.capacityBytes;
        if (deviceLive + row.size > cap) {
            e.verdict = "capacity";
            e.explanation = "this process held " + humanBytes(static_cast<double>(deviceLive)) + " of "
                + humanBytes(static_cast<double>(cap)) + "; the " + req + " request could not fit even on an otherwise empty device";
        } else if (e.deviceFreeBytes && *e.deviceFreeBytes < row.size) {
            e.heldOutsideBytes = std::max<int64_t>(0, cap - *e.deviceFreeBytes - deviceLive);
            e.verdict = "outside_process";
            e.explanation = humanBytes(static_cast<double>(*e.heldOutsideBytes))
                + " of the device was held outside this process (other processes, the CUDA context, libraries); without it the "
                + req + " request would have fit";
        } else {
            e.verdict = "unknown";
            e.explanation = "the device reported enough free memory for the " + req + " request; the failure has another cause";
        }
    } else {
        e.verdict = "unknown";
        e.explanation = "the device capacity is unknown, so capacity and outside use cannot be told apart";
    }
    auto live = liveAt(rec, device ? device->id : row.space, row.ts, {}, top);
    if (!live)
        return live.error();
    e.liveBySite = std::move(live->bySite);
    return okStatus();
}

} // namespace

Result<std::vector<OomEvent>> oomForensics(Recording& rec, int top)
{
    auto st = rec.db().prepare("SELECT id, space_id, size_bytes, api, coalesce(callsite_id, 0), coalesce(range_id, 0), ts_ns, "
                               "coalesce(error_name, ''), device_free_bytes, device_total_bytes, live_bytes FROM failed_allocations "
                               "ORDER BY ts_ns, id");
    if (!st)
        return st.error();
    std::vector<FailedRow> rows;
    while (st->step()) {
        FailedRow r;
        r.id = st->int64(0);
        r.space = st->int64(1);
        r.size = st->int64(2);
        r.api = st->int64(3);
        r.callsite = st->int64(4);
        r.range = st->int64(5);
        r.ts = st->int64(6);
        r.errorName = st->text(7);
        if (!st->isNull(8))
            r.deviceFree = st->int64(8);
        if (!st->isNull(9))
            r.deviceTotal = st->int64(9);
        if (!st->isNull(10))
            r.liveBytes = st->int64(10);
        rows.push_back(std::move(r));
    }
    if (!st->status())
        return st->status().error();
    std::vector<OomEvent> out;
    for (const auto& row : rows) {
        OomEvent e;
        e.id = row.id;
        e.spaceId = row.space;
        const SpaceInfo* space = rec.space(row.space);
        e.spaceName = space ? space->name : "space " + std::to_string(row.space);
        e.ts = row.ts;
        e.requestBytes = row.size;
        e.api = rec.apiName(row.api);
        e.errorName = row.errorName;
        e.site = rec.siteOf(row.callsite);
        e.phase = rec.phaseOf(row.range);
        if (auto s = classify(rec, row, e, top); !s)
            return s.error();
        out.push_back(std::move(e));
    }
    return out;
}

} // namespace tidemark::analysis
