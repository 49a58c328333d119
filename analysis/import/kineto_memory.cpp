// Pairing Kineto [memory] events. Events of one device are taken in timestamp order (file order on ties)
// and given strictly increasing nanosecond times, so an alloc and a free in the same microsecond keep their
// order. A free without an alloc, and the bytes "Total Allocated" already counted at the first event, are
// memory allocated before the trace began: they become lifetimes that start at the first event.
#include "analysis/import/kineto_memory.h"

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
        return out.namedSpace(SpaceKind::Host, "host");
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
                it->second.freeTsNs = e->tsNs;
                out.allocation(it->second);
                open.erase(it);
                ++p.reallocOverLive;
            }
            open[*e->address] = { space, processId, thread, Api::KinetoMemory, static_cast<uint64_t>(*e->address),
                e->bytes, e->tsNs, {}, {}, e->callsite, range, {}, {}, {} };
            continue;
        }
        auto it = open.find(*e->address);
        if (it != open.end()) {
            it->second.freeTsNs = e->tsNs;
            it->second.freeApi = Api::KinetoMemory;
            out.allocation(it->second);
            open.erase(it);
            ++p.pairedFrees;
        } else {
            out.allocation({ space, processId, thread, Api::KinetoMemory, static_cast<uint64_t>(*e->address), -e->bytes,
                first, e->tsNs, Api::KinetoMemory, {}, {}, {}, {}, {} });
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
            out.allocation({ space, processId, {}, Api::KinetoMemory, 0, baseline, first, {}, {}, {}, {}, {}, {},
                out.string("allocated before the trace began (from Kineto's Total Allocated)") });
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
            SampleRow s { processId, space, e->tsNs, {}, {}, e->totalAllocated, e->totalReserved };
            if (!addressed && !e->totalAllocated)
                s.usedBytes = running;
            out.sample(s);
        }
        if (addressed)
            writeLifetimes(evs, space, out, processId, context, p);
        else
            totalsOnly += static_cast<int64_t>(evs.size());
    }
    if (totalsOnly > 0)
        out.meta("kineto.memory", "totals only: this trace's [memory] events carry no addresses (old schema), so no "
                                  "allocation lifetimes; samples.used_bytes is the running sum of Bytes since the "
                                  "trace began (memory allocated before it is unknown)");
    else if (!events.empty())
        out.meta("kineto.memory", "lifetimes paired by address per device");
    out.stat(processId, "kineto.paired_frees", p.pairedFrees);
    out.stat(processId, "kineto.frees_of_pre_trace_blocks", p.preTraceFrees,
        "free events without an alloc in the trace: lifetimes from the first memory event");
    out.stat(processId, "kineto.alloc_over_live_address", p.reallocOverLive);
    out.stat(processId, "kineto.memory_events_totals_only", totalsOnly);
    out.stat(processId, "kineto.memory_events_other_devices", otherDevices, "Device Type neither CPU (0) nor CUDA (1)");
}

} // namespace tidemark::import
