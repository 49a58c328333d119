// Pool heaps from segment lifetimes. cudaMalloc'd segments map one to one. Expandable segments grow and
// shrink by segment_map/unmap; adjacent mapped pieces form one extent, and every change of the extents
// ends the affected heaps and starts new ones, so the heaps alive at any moment are exactly what was mapped.
#include "analysis/import/torch_lifetimes.h"

#include <algorithm>
#include <map>

namespace tidemark::import {

namespace {

const TorchSegment* finalContaining(const std::vector<const TorchSegment*>& finals, uint64_t address)
{
    for (const TorchSegment* s : finals)
        if (address >= s->address && address < s->address + static_cast<uint64_t>(s->totalBytes))
            return s;
    return nullptr;
}

std::string segmentLabel(const TorchSegment* s, bool expandable)
{
    if (!s)
        return expandable ? "expandable segment (unmapped before the dump)" : "segment (freed before the dump)";
    std::string label = (s->type.empty() ? std::string("segment") : s->type + " segment");
    label += ", stream " + std::to_string(s->stream);
    if (!s->poolId.empty())
        label += ", pool " + s->poolId;
    return label;
}

struct Extent {
    int64_t size;
    std::optional<int64_t> callsite;
};

// Maximal runs of adjacent mapped pieces.
std::map<uint64_t, Extent> extentsOf(const std::map<uint64_t, const Life*>& pieces)
{
    std::map<uint64_t, Extent> out;
    uint64_t runStart = 0, runEnd = 0;
    std::optional<int64_t> cs;
    bool open = false;
    for (const auto& [addr, life] : pieces) {
        if (open && addr == runEnd) {
            runEnd += static_cast<uint64_t>(life->size);
            continue;
        }
        if (open)
            out[runStart] = { static_cast<int64_t>(runEnd - runStart), cs };
        runStart = addr;
        runEnd = addr + static_cast<uint64_t>(life->size);
        cs = life->callsite;
        open = true;
    }
    if (open)
        out[runStart] = { static_cast<int64_t>(runEnd - runStart), cs };
    return out;
}

void writeExpandableHeaps(const std::vector<Life>& segments, const std::vector<const TorchSegment*>& finals,
    int64_t pool, int64_t processId, RecordingWriter& out, std::vector<HeapSpan>& spans)
{
    std::map<int64_t, std::vector<std::pair<bool, const Life*>>> changes; // ts -> (opens?, piece)
    for (const Life& l : segments) {
        if (!l.mapped)
            continue;
        changes[l.start].push_back({ true, &l });
        if (l.end)
            changes[*l.end].push_back({ false, &l });
    }
    std::map<uint64_t, const Life*> pieces;
    std::map<uint64_t, Extent> current;
    std::map<uint64_t, size_t> openSpan; // extent address -> index in spans
    for (const auto& [ts, list] : changes) {
        for (const auto& [opens, life] : list)
            if (!opens && pieces.count(life->address) && pieces[life->address] == life)
                pieces.erase(life->address);
        for (const auto& [opens, life] : list)
            if (opens)
                pieces[life->address] = life;
        std::map<uint64_t, Extent> next = extentsOf(pieces);
        for (const auto& [addr, ext] : current) {
            auto n = next.find(addr);
            if (n == next.end() || n->second.size != ext.size) {
                spans[openSpan[addr]].end = ts;
                openSpan.erase(addr);
            }
        }
        for (const auto& [addr, ext] : next) {
            auto c = current.find(addr);
            if (c != current.end() && c->second.size == ext.size)
                continue;
            openSpan[addr] = spans.size();
            spans.push_back({ addr, ext.size, ts, {}, 0 });
        }
        current = std::move(next);
    }
    // Heap rows are written once their end is known.
    for (HeapSpan& s : spans) {
        if (s.id != 0)
            continue;
        const TorchSegment* fin = finalContaining(finals, s.address);
        HeapRow h { .space_id = pool,
            .process_id = processId,
            .address = static_cast<int64_t>(s.address),
            .size_bytes = s.size,
            .usage = "torch_expandable_segment",
            .name_id = out.string(segmentLabel(fin, true)),
            .register_ts_ns = s.start,
            .unregister_ts_ns = s.end };
        for (const Life& l : segments)
            if (l.mapped && l.address == s.address && l.start <= s.start) {
                h.callsite_id = l.callsite;
                break;
            }
        s.id = out.heap(h);
    }
}

} // namespace

std::vector<HeapSpan> writeHeaps(const std::vector<Life>& segments, const std::vector<const TorchSegment*>& finals,
    int64_t pool, int64_t processId, RecordingWriter& out)
{
    std::vector<HeapSpan> spans;
    for (const Life& l : segments) {
        if (l.mapped)
            continue;
        const TorchSegment* fin = l.end ? nullptr : finalContaining(finals, l.address);
        HeapRow h { .space_id = pool,
            .process_id = processId,
            .address = static_cast<int64_t>(l.address),
            .size_bytes = l.size,
            .usage = "torch_segment",
            .name_id = out.string(segmentLabel(fin, false)),
            .register_ts_ns = l.start,
            .unregister_ts_ns = l.end,
            .callsite_id = l.callsite };
        if (fin)
            if (auto cs = out.callsite(torchFrames(fin->frames)))
                h.callsite_id = cs;
        spans.push_back({ l.address, l.size, l.start, l.end, out.heap(h) });
    }
    writeExpandableHeaps(segments, finals, pool, processId, out, spans);
    return spans;
}

std::optional<int64_t> heapFor(const std::vector<HeapSpan>& heaps, const Life& b)
{
    const HeapSpan* best = nullptr;
    for (const HeapSpan& h : heaps) {
        bool inside = b.address >= h.address && b.address < h.address + static_cast<uint64_t>(h.size);
        bool overlaps = (!h.end || b.start < *h.end) && (!b.end || h.start < *b.end || h.start == b.start);
        if (inside && overlaps && (!best || h.start > best->start))
            best = &h;
    }
    return best ? std::optional<int64_t>(best->id) : std::nullopt;
}

} // namespace tidemark::import
