// PyTorch memory snapshot -> recording. The event history (device_traces) gives lifetimes; the segment
// state at dump time is the truth for the end: blocks and segments alive at the dump that the history
// never saw allocated start at the trace's beginning, and lifetimes the history left open that the dump
// does not list end at the dump. docs/import.md states the rules and what cannot be known.
#include "analysis/import/import_internal.h"
#include "analysis/import/range_nesting.h"
#include "analysis/import/torch_lifetimes.h"
#include "analysis/import/torch_snapshot_model.h"
#include "trace/meta_keys.h"

#include <algorithm>
#include <map>
#include <unordered_map>

namespace tidemark::import {

namespace {

// Trace entries carry the requested size; the allocator hands out blocks rounded up to 512 bytes (the
// default round_size; a block can be larger still when the remainder was too small to split, which only
// the dump shows).
int64_t blockSize(int64_t requested)
{
    constexpr int64_t kMinBlock = 512;
    return requested <= kMinBlock ? kMinBlock : (requested + kMinBlock - 1) / kMinBlock * kMinBlock;
}

struct Counters {
    int64_t preTraceBlocks = 0, preTraceSegments = 0, reallocOverLive = 0, notInSnapshot = 0, unknownActions = 0;
    int64_t orphanBlocks = 0;
};

// Lifetimes of one device: segments (device space, incl. expandable map/unmap pieces) and blocks.
class DeviceLifetimes {
public:
    explicit DeviceLifetimes(int64_t t0)
        : m_t0(t0)
    {
    }

    void segmentOpen(const Life& l)
    {
        m_openSegs[l.address] = m_segs.size();
        m_segs.push_back(l);
        m_reserved += l.size;
    }

    // Releases [addr, addr+size): overlapping rows end at ts (their parts outside the range reopen at ts,
    // as a partial unmap leaves them mapped); parts never seen mapped become rows from the beginning.
    void segmentClose(uint64_t addr, int64_t size, int64_t ts, bool mapped, Counters& c)
    {
        uint64_t lo = addr, hi = addr + static_cast<uint64_t>(size);
        auto it = m_openSegs.upper_bound(lo);
        if (it != m_openSegs.begin())
            --it;
        uint64_t cursor = lo;
        std::vector<Life> reopen;
        while (it != m_openSegs.end() && it->first < hi) {
            Life& l = m_segs[it->second];
            uint64_t lEnd = l.address + static_cast<uint64_t>(l.size);
            if (lEnd <= lo) {
                ++it;
                continue;
            }
            if (l.address > cursor)
                closedGap(cursor, l.address, ts, mapped, c);
            cursor = std::max(cursor, lEnd);
            l.end = ts;
            m_reserved -= l.size;
            if (l.address < lo)
                reopen.push_back({ l.address, static_cast<int64_t>(lo - l.address), ts, {}, l.callsite, l.stream, l.mapped });
            if (lEnd > hi)
                reopen.push_back({ hi, static_cast<int64_t>(lEnd - hi), ts, {}, l.callsite, l.stream, l.mapped });
            it = m_openSegs.erase(it);
        }
        if (cursor < hi)
            closedGap(cursor, hi, ts, mapped, c);
        for (const Life& r : reopen)
            segmentOpen(r);
    }

    void blockOpen(const Life& l, Counters& c)
    {
        if (auto it = m_openBlocks.find(l.address); it != m_openBlocks.end()) {
            m_blocks[it->second].end = l.start;
            ++c.reallocOverLive;
        }
        m_openBlocks[l.address] = m_blocks.size();
        m_blocks.push_back(l);
    }

    void blockClose(uint64_t addr, int64_t size, int64_t ts, int64_t stream, Counters& c)
    {
        if (auto it = m_openBlocks.find(addr); it != m_openBlocks.end()) {
            m_blocks[it->second].end = ts;
            m_openBlocks.erase(it);
            return;
        }
        m_blocks.push_back({ addr, size, m_t0, ts, {}, stream });
        ++c.preTraceBlocks;
    }

    void reconcile(const std::vector<const TorchSegment*>& finals, int64_t tEnd, RecordingWriter& out, Counters& c);

    int64_t reserved() const { return m_reserved; }
    std::vector<Life> m_segs, m_blocks;

private:
    void closedGap(uint64_t lo, uint64_t hi, int64_t ts, bool mapped, Counters& c)
    {
        m_segs.push_back({ lo, static_cast<int64_t>(hi - lo), m_t0, ts, {}, 0, mapped });
        ++c.preTraceSegments;
    }

    int64_t m_t0;
    int64_t m_reserved = 0;
    std::map<uint64_t, size_t> m_openSegs;
    std::unordered_map<uint64_t, size_t> m_openBlocks;
};

void DeviceLifetimes::reconcile(const std::vector<const TorchSegment*>& finals, int64_t tEnd, RecordingWriter& out,
    Counters& c)
{
    std::map<uint64_t, size_t> claimed; // open segment rows inside a final segment
    for (const TorchSegment* s : finals) {
        uint64_t lo = s->address, hi = s->address + static_cast<uint64_t>(s->totalBytes), cursor = lo;
        auto it = m_openSegs.lower_bound(lo);
        std::optional<int64_t> cs = out.callsite(torchFrames(s->frames));
        for (; it != m_openSegs.end() && it->first < hi; ++it) {
            const Life& l = m_segs[it->second];
            if (l.address > cursor) {
                m_segs.push_back({ cursor, static_cast<int64_t>(l.address - cursor), m_t0, {}, cs, s->stream, s->expandable });
                ++c.preTraceSegments;
            }
            cursor = std::max(cursor, l.address + static_cast<uint64_t>(l.size));
            claimed.insert(*it);
        }
        if (cursor < hi) {
            m_segs.push_back({ cursor, static_cast<int64_t>(hi - cursor), m_t0, {}, cs, s->stream, s->expandable });
            ++c.preTraceSegments;
        }
        for (const TorchBlock& b : s->blocks) {
            if (!b.allocated())
                continue;
            auto open = m_openBlocks.find(b.address);
            if (open != m_openBlocks.end()) {
                // The trace knows the requested size; the dump knows the block's real size.
                m_blocks[open->second].size = b.sizeBytes;
                m_openBlocks.erase(open);
                continue;
            }
            m_blocks.push_back({ b.address, b.sizeBytes, m_t0, {}, out.callsite(torchFrames(b.frames)), s->stream });
            ++c.preTraceBlocks;
        }
    }
    // What the history left open but the dump does not list was released unseen: it ends at the dump.
    for (auto& [addr, idx] : m_openSegs)
        if (!claimed.count(addr)) {
            m_segs[idx].end = tEnd;
            ++c.notInSnapshot;
        }
    for (auto& [addr, idx] : m_openBlocks) {
        m_blocks[idx].end = tEnd;
        ++c.notInSnapshot;
    }
    m_openBlocks.clear();
}

struct SnapshotImport {
    SnapshotImport(const TorchSnapshot& s, RecordingWriter& o, const ImportContext& c)
        : snap(s)
        , out(o)
        , ctx(c)
    {
    }
    const TorchSnapshot& snap;
    RecordingWriter& out;
    const ImportContext& ctx;
    int64_t processId = 0;
    bool timed = true;
    int64_t t0 = 0, tEnd = 0;
    RangeTable ranges;
    Counters counters;

    int64_t tsOf(const TorchEvent& e, size_t index) const { return timed ? *e.timeUs * 1000 : static_cast<int64_t>(index); }
    void clock();
    void annotations();
    void device(int dev);
    void events(int dev, DeviceLifetimes& life);
    void failures(const DeviceLifetimes& life);

    struct Oom {
        int dev;
        const TorchEvent* event;
        int64_t ts;
    };
    std::vector<Oom> m_ooms;
};

// OOM events become failed allocations once the lifetimes are complete, so the bytes reserved at that
// moment include segments that the history never saw allocated.
void SnapshotImport::failures(const DeviceLifetimes& life)
{
    for (const Oom& o : m_ooms) {
        const TorchEvent& e = *o.event;
        int64_t live = 0;
        for (const Life& l : life.m_segs)
            if (l.start <= o.ts && (!l.end || *l.end > o.ts))
                live += l.size;
        FailedRow f;
        f.space_id = out.deviceSpace(o.dev);
        f.process_id = processId;
        f.api = Api::TorchBlock;
        f.size_bytes = e.sizeBytes;
        f.ts_ns = o.ts;
        f.callsite_id = out.callsite(torchFrames(e.frames));
        f.range_id = ranges.innermostAt(o.ts);
        f.stream = e.stream;
        f.error_name = "CUDA out of memory (PyTorch caching allocator)";
        f.device_free_bytes = e.deviceFreeBytes;
        f.live_bytes = live;
        out.failed(f);
    }
    m_ooms.clear();
}

void SnapshotImport::clock()
{
    bool any = false;
    t0 = INT64_MAX;
    tEnd = 0;
    for (const auto& trace : snap.deviceTraces)
        for (const TorchEvent& e : trace) {
            any = true;
            if (!e.timeUs)
                timed = false;
            else {
                t0 = std::min(t0, *e.timeUs * 1000);
                tEnd = std::max(tEnd, *e.timeUs * 1000);
            }
        }
    if (!any || !timed) {
        timed = any && timed;
        t0 = 0;
        size_t longest = 0;
        for (const auto& trace : snap.deviceTraces)
            longest = std::max(longest, trace.size());
        tEnd = static_cast<int64_t>(longest);
    }
    out.meta(trace::kMetaClock,
        timed ? "unix_epoch_ns (trace time_us x 1000)"
              : "sequence (this snapshot records no times: ts_ns is the event's position in its device trace)");
}

void SnapshotImport::annotations()
{
    std::vector<PendingRange> pending;
    std::map<std::string, std::vector<size_t>> open;
    for (const TorchAnnotation& a : snap.annotations) {
        if (!timed)
            break;
        if (a.stage == "START") {
            open[a.name].push_back(pending.size());
            PendingRange r;
            r.startTsNs = a.timeUs * 1000;
            r.name = a.name;
            pending.push_back(std::move(r));
        } else if (a.stage == "END" && !open[a.name].empty()) {
            pending[open[a.name].back()].endTsNs = a.timeUs * 1000;
            open[a.name].pop_back();
        }
    }
    ranges.insertAll(out, processId, std::nullopt, std::move(pending));
}

void SnapshotImport::events(int dev, DeviceLifetimes& life)
{
    if (static_cast<size_t>(dev) >= snap.deviceTraces.size())
        return;
    const auto& trace = snap.deviceTraces[dev];
    // free_completed is when the block returns to the allocator; older traces only have free_requested / free.
    bool hasCompleted = std::any_of(trace.begin(), trace.end(), [](const TorchEvent& e) { return e.action == "free_completed"; });
    const char* freeAction = hasCompleted ? "free_completed" : "free_requested";
    for (size_t i = 0; i < trace.size(); ++i) {
        const TorchEvent& e = trace[i];
        int64_t ts = tsOf(e, i);
        if (e.action == "alloc") {
            life.blockOpen({ e.address, blockSize(e.sizeBytes), ts, {}, out.callsite(torchFrames(e.frames)), e.stream }, counters);
        } else if (e.action == freeAction || e.action == "free") {
            life.blockClose(e.address, blockSize(e.sizeBytes), ts, e.stream, counters);
        } else if (e.action == "segment_alloc" || e.action == "segment_map") {
            life.segmentOpen({ e.address, e.sizeBytes, ts, {}, out.callsite(torchFrames(e.frames)), e.stream,
                e.action == "segment_map" });
        } else if (e.action == "segment_free" || e.action == "segment_unmap") {
            life.segmentClose(e.address, e.sizeBytes, ts, e.action == "segment_unmap", counters);
        } else if (e.action == "oom") {
            m_ooms.push_back({ dev, &e, ts });
        } else if (e.action == "snapshot") {
            out.mark(processId, ts, "snapshot");
        } else if (e.action != "free_requested" && e.action != "free_completed") {
            ++counters.unknownActions;
        }
    }
}

void SnapshotImport::device(int dev)
{
    std::vector<const TorchSegment*> finals;
    for (const TorchSegment& s : snap.segments)
        if (s.device == dev)
            finals.push_back(&s);
    DeviceLifetimes life(t0);
    events(dev, life);
    life.reconcile(finals, tEnd, out, counters);
    failures(life);

    int64_t device = out.deviceSpace(dev), pool = out.poolSpace(dev);
    for (const Life& l : life.m_segs)
        out.allocation({ .space_id = device,
            .process_id = processId,
            .api = Api::TorchSegment,
            .address = static_cast<int64_t>(l.address),
            .size_bytes = l.size,
            .alloc_ts_ns = l.start,
            .free_ts_ns = l.end,
            .free_api = l.end ? std::optional<Api>(Api::TorchSegment) : std::nullopt,
            .callsite_id = l.callsite,
            .range_id = ranges.innermostAt(l.start),
            .stream = l.stream });
    std::vector<HeapSpan> heaps = writeHeaps(life.m_segs, finals, pool, processId, out);
    for (const Life& b : life.m_blocks) {
        auto heap = heapFor(heaps, b);
        if (!heap)
            ++counters.orphanBlocks;
        out.allocation({ .space_id = pool,
            .process_id = processId,
            .api = Api::TorchBlock,
            .address = static_cast<int64_t>(b.address),
            .size_bytes = b.size,
            .alloc_ts_ns = b.start,
            .free_ts_ns = b.end,
            .free_api = b.end ? std::optional<Api>(Api::TorchBlock) : std::nullopt,
            .callsite_id = b.callsite,
            .range_id = ranges.innermostAt(b.start),
            .heap_id = heap,
            .stream = b.stream });
    }
}

} // namespace

Status importTorchSnapshot(InputStream pickle, RecordingWriter& out, const ImportContext& ctx)
{
    ctx.report("parsing pickle", 0.0);
    auto doc = parsePickle(pickle.stream);
    if (const Error* e = pickle.failure()) // the gzip stream's reason comes before "pickle truncated"
        return *e;
    if (!doc)
        return doc.error();
    auto snap = readTorchSnapshot(*doc);
    if (!snap)
        return snap.error();
    ctx.report("parsing pickle", 1.0);

    out.meta(trace::kMetaSource, "import:torch-snapshot");
    out.meta(trace::kMetaProgram, ctx.inputName);
    std::string layout = snap->bareSegmentList ? "bare segment list (torch.cuda.memory_snapshot())"
                                               : "snapshot dict (torch.cuda.memory._dump_snapshot())";
    out.meta(trace::kMetaDescription,
        "PyTorch memory snapshot, " + layout + ", " + std::to_string(snap->segments.size()) + " segments");
    if (!snap->allocatorSettingsJson.empty())
        out.meta(trace::kMetaTorchAllocatorSettings, snap->allocatorSettingsJson);

    SnapshotImport imp(*snap, out, ctx);
    imp.processId = out.process(0, std::nullopt, {}, {});
    imp.clock();
    imp.annotations();
    int devices = static_cast<int>(snap->deviceTraces.size());
    for (const TorchSegment& s : snap->segments)
        devices = std::max(devices, s.device + 1);
    for (int dev = 0; dev < devices; ++dev) {
        bool used = (static_cast<size_t>(dev) < snap->deviceTraces.size() && !snap->deviceTraces[dev].empty())
            || std::any_of(snap->segments.begin(), snap->segments.end(), [dev](const TorchSegment& s) { return s.device == dev; });
        if (used)
            imp.device(dev);
        ctx.report("building lifetimes", static_cast<double>(dev + 1) / devices);
    }
    const Counters& c = imp.counters;
    out.stat(imp.processId, "torch.blocks_alive_before_trace", c.preTraceBlocks,
        "blocks freed in, or alive at the end of, the trace without an alloc event: they start at the trace's beginning");
    out.stat(imp.processId, "torch.segment_pieces_before_trace", c.preTraceSegments,
        "segment ranges reserved before the trace began: they start at the trace's beginning");
    out.stat(imp.processId, "torch.open_not_in_snapshot", c.notInSnapshot,
        "lifetimes the trace left open that the dump does not list: they end at the dump");
    out.stat(imp.processId, "torch.alloc_over_live_block", c.reallocOverLive, "alloc at an address still live: the old block ends there");
    out.stat(imp.processId, "torch.blocks_without_segment", c.orphanBlocks, "blocks in no known segment (heap_id NULL)");
    out.stat(imp.processId, "torch.unknown_actions", c.unknownActions);
    return out.status();
}

} // namespace tidemark::import
