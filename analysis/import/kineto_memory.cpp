// Pairing Kineto [memory] events. Events of one device are taken in timestamp order (file order on ties)
// and given strictly increasing nanosecond times, so an alloc and a free in the same microsecond keep their
// order. A free without an alloc, and the bytes "Total Allocated" already counted at the first event, are
// memory allocated before the trace began: they become lifetimes that start at the first event.
#include "analysis/import/kineto_memory.h"

#include "trace/meta_keys.h"
#include "trace/space_names.h"

#include <algorithm>
#include <map>
#include <unordered_map>

namespace tidemark::import {

namespace {

struct DeviceKey {
    int64_t type, id;
    bool operator<(const DeviceKey& o) const { return type != o.type ? type < o.type : id < o.id; }
};

int64_t spaceFor(RecordingWriter& out, DeviceKey key)
{
    if (key.type == 1)
        return out.deviceSpace(static_cast<int>(std::clamp<int64_t>(key.id, 0, 1023)));
    if (key.type == 0)
        return out.namedSpace(SpaceKind::Host, trace::spaceName(SpaceKind::Host));
    return 0;
}

struct Pairing {
    int64_t pairedFrees = 0, preTraceFrees = 0, reallocOverLive = 0;
};

void writeLifetimes(std::vector<KinetoMemoryEvent*>& evs, int64_t space, RecordingWriter& out, int64_t processId,
    const ThreadContext& context, Pairing& p)
{
    std::unordered_map<int64_t, AllocationRow> open;
    int64_t first = evs.front()->tsNs;
    int64_t preTraceFreed = 0;
    for (KinetoMemoryEvent* e : evs) {
        auto [thread, range] = context(e->tid, e->tsNs);
        if (e->bytes >= 0) {
            if (auto it = open.find(*e->address); it != open.end()) {
                it->second.free_ts_ns = e->tsNs;
                out.allocation(it->second);
                open.erase(it);
                ++p.reallocOverLive;
            }
            open[*e->address] = { .space_id = space,
                .process_id = processId,
                .thread_id = thread,
                .api = Api::KinetoMemory,
                .address = *e->address,
                .size_bytes = e->bytes,
                .alloc_ts_ns = e->tsNs,
                .callsite_id = e->callsite,
                .range_id = range };
            continue;
        }
        auto it = open.find(*e->address);
        if (it != open.end()) {
            it->second.free_ts_ns = e->tsNs;
            it->second.free_api = Api::KinetoMemory;
            out.allocation(it->second);
            open.erase(it);
            ++p.pairedFrees;
        } else {
            out.allocation({ .space_id = space,
                .process_id = processId,
                .thread_id = thread,
                .api = Api::KinetoMemory,
                .address = *e->address,
                .size_bytes = -e->bytes,
                .alloc_ts_ns = first,
                .free_ts_ns = e->tsNs,
                .free_api = Api::KinetoMemory });
            preTraceFreed += -e->bytes;
            ++p.preTraceFrees;
        }
    }
    for (auto& [addr, row] : open)
        out.allocation(row);
    // Bytes the allocator already counted at the first event and that no free in the trace explains.
    const KinetoMemoryEvent* f = evs.front();
    if (f->totalAllocated) {
        int64_t baseline = *f->totalAllocated - f->bytes - preTraceFreed;
        if (baseline > 0)
            out.allocation({ .space_id = space,
                .process_id = processId,
                .api = Api::KinetoMemory,
                .size_bytes = baseline,
                .alloc_ts_ns = first,
                .name_id = out.string("allocated before the trace began (from Kineto's Total Allocated)") });
        else if (baseline < 0)
            out.stat(processId, "kineto.negative_baseline_bytes", -baseline, "frees of unknown blocks exceed Total Allocated");
    }
}

} // namespace

void writeKinetoMemory(std::vector<KinetoMemoryEvent>& events, RecordingWriter& out, int64_t processId,
    const ThreadContext& context)
{
    std::map<DeviceKey, std::vector<KinetoMemoryEvent*>> byDevice;
    for (KinetoMemoryEvent& e : events)
        byDevice[{ e.deviceType, e.deviceId }].push_back(&e);
    Pairing p;
    int64_t totalsOnly = 0, otherDevices = 0;
    for (auto& [key, evs] : byDevice) {
        int64_t space = spaceFor(out, key);
        if (space == 0) {
            otherDevices += static_cast<int64_t>(evs.size());
            continue;
        }
        std::stable_sort(evs.begin(), evs.end(), [](auto* a, auto* b) { return a->tsNs < b->tsNs; });
        for (size_t i = 1; i < evs.size(); ++i)
            evs[i]->tsNs = std::max(evs[i]->tsNs, evs[i - 1]->tsNs + 1);
        bool addressed = std::all_of(evs.begin(), evs.end(), [](auto* e) { return e->address.has_value(); });
        // Old schemas: no addresses, no totals. The running sum of Bytes is all that is known.
        int64_t running = 0;
        for (KinetoMemoryEvent* e : evs) {
            running += e->bytes;
            SampleRow s { .process_id = processId,
                .space_id = space,
                .ts_ns = e->tsNs,
                .used_bytes = e->totalAllocated,
                .reserved_bytes = e->totalReserved };
            if (!addressed && !e->totalAllocated)
                s.used_bytes = running;
            out.sample(s);
        }
        if (addressed)
            writeLifetimes(evs, space, out, processId, context, p);
        else
            totalsOnly += static_cast<int64_t>(evs.size());
    }
    if (totalsOnly > 0)
        out.meta(trace::kMetaKinetoMemory,
            "totals only: this trace's [memory] events carry no addresses (old schema), so no "
            "allocation lifetimes; samples.used_bytes is the running sum of Bytes since the "
            "trace began (memory allocated before it is unknown)");
    else if (!events.empty())
        out.meta(trace::kMetaKinetoMemory, "lifetimes paired by address per device");
    out.stat(processId, "kineto.paired_frees", p.pairedFrees);
    out.stat(processId, "kineto.frees_of_pre_trace_blocks", p.preTraceFrees,
        "free events without an alloc in the trace: lifetimes from the first memory event");
    out.stat(processId, "kineto.alloc_over_live_address", p.reallocOverLive);
    out.stat(processId, "kineto.memory_events_totals_only", totalsOnly);
    out.stat(processId, "kineto.memory_events_other_devices", otherDevices, "Device Type neither CPU (0) nor CUDA (1)");
}

} // namespace tidemark::import
