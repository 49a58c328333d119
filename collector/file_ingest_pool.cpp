// Pass 2, continued: NVTX memory-extension heaps (pool segments) and regions (sub-allocations inside
// them, stored as allocation rows in the pool space), and the resolution of stacks into callsites.
#include "collector/file_ingest.h"

namespace tidemark::collector {

namespace {
    const char* heapUsageName(uint16_t usage)
    {
        // NVTX_MEM_HEAP_USAGE_TYPE_* of nvToolsExtMem.h.
        switch (usage) {
        case 1:
            return "sub_allocator";
        case 2:
            return "layout";
        default:
            return "unknown";
        }
    }
} // namespace

void FileIngest::onHeapRegister(const wire::HeapRegisterRecord& r)
{
    Heap h {};
    h.id = m_ctx.next_heap++;
    h.pool_space = m_ctx.spaces.pool(parentSpaceOf(r.address));
    h.name = stringOf(r.name_id);
    h.callsite = callsiteOf(r.stack_id, r.ts_ns);
    h.range = rangeOf(r.range_id);
    h.address = r.address;
    h.size = r.size;
    h.ts = r.ts_ns;
    h.usage = r.usage;
    m_heaps[r.heap_id] = std::move(h);
    m_heapsByAddress[r.address] = r.heap_id;
}

void FileIngest::writeHeap(const Heap& h, std::optional<int64_t> unregisterTs)
{
    m_ctx.out.tableRow(m_ctx.out.heaps,
        trace::HeapRow { .id = h.id,
            .space_id = h.pool_space,
            .process_id = m_plan.id,
            .address = static_cast<int64_t>(h.address),
            .size_bytes = static_cast<int64_t>(h.size),
            .usage = std::string(heapUsageName(h.usage)),
            .name_id = idOrNull(h.name),
            .register_ts_ns = static_cast<int64_t>(h.ts),
            .unregister_ts_ns = unregisterTs,
            .callsite_id = idOrNull(h.callsite),
            .range_id = idOrNull(h.range) });
}

void FileIngest::onHeapEvent(const wire::HeapEventRecord& r, bool unregister)
{
    auto it = m_heaps.find(r.heap_id);
    if (it == m_heaps.end()) {
        ++m_count.unknown_heaps;
        return;
    }
    Heap& h = it->second;
    // Resetting or unregistering a heap ends every region still registered inside it.
    for (uint64_t address : h.regions) {
        if (Live* live = findLive(h.pool_space, address)) {
            closeLive(*live, r.ts_ns, static_cast<uint16_t>(Api::NvtxMemHeap), kSourceNvtx);
            ++m_count.regions_closed_by_heap;
        }
    }
    h.regions.clear();
    if (unregister) {
        writeHeap(h, static_cast<int64_t>(r.ts_ns));
        m_heapsByAddress.erase(h.address);
        m_heaps.erase(it);
    }
}

FileIngest::Heap* FileIngest::heapFor(uint32_t heapFileId, uint64_t address)
{
    if (heapFileId) {
        if (auto it = m_heaps.find(heapFileId); it != m_heaps.end())
            return &it->second;
    }
    // Process-wide regions (or an unknown handle): the heap whose extent holds the address.
    auto it = m_heapsByAddress.upper_bound(address);
    if (it == m_heapsByAddress.begin())
        return nullptr;
    --it;
    auto heap = m_heaps.find(it->second);
    if (heap == m_heaps.end() || address - heap->second.address >= heap->second.size)
        return nullptr;
    return &heap->second;
}

int64_t FileIngest::regionSpace(Heap* heap, uint64_t address, bool create)
{
    if (heap)
        return heap->pool_space;
    if (auto it = m_looseRegions.find(address); it != m_looseRegions.end())
        return it->second;
    if (!create)
        return 0;
    int64_t space = m_ctx.spaces.pool(parentSpaceOf(address));
    m_looseRegions[address] = space;
    return space;
}

void FileIngest::onRegionRegister(uint32_t tid, const wire::RegionRegisterRecord& r)
{
    Heap* heap = heapFor(r.heap_id, r.address);
    int64_t space = regionSpace(heap, r.address, true);
    onAlloc(tid,
        Live { space, threadOf(tid), r.address, r.size, r.ts_ns, callsiteOf(r.stack_id, r.ts_ns),
            rangeOf(r.range_id), heap ? heap->id : 0, 0, 0, kSourceNvtx, static_cast<uint16_t>(Api::NvtxMemRegion) },
        kSourceNvtx, r.ts_ns);
    if (heap)
        heap->regions.insert(r.address);
}

void FileIngest::onRegionEvent(uint32_t tid, const wire::RegionEventRecord& r, wire::Kind kind)
{
    Heap* heap = heapFor(r.heap_id, r.address);
    int64_t space = regionSpace(heap, r.address, false);
    Live* live = space ? findLive(space, r.address) : nullptr;
    const auto api = static_cast<uint16_t>(Api::NvtxMemRegion);
    switch (kind) {
    case wire::Kind::RegionUnregister:
        if (!live) {
            ++m_count.unmatched_frees;
            return;
        }
        closeLive(*live, r.ts_ns, api, kSourceNvtx);
        if (heap)
            heap->regions.erase(r.address);
        m_looseRegions.erase(r.address);
        break;
    case wire::Kind::RegionResize: {
        if (!live) {
            ++m_count.unknown_regions;
            return;
        }
        // A lifetime row has one size: end the old extent and start the resized one at this moment.
        Live next = *live;
        closeLive(*live, r.ts_ns, api, kSourceNvtx);
        next.size = r.size;
        next.ts = r.ts_ns;
        onAlloc(tid, next, kSourceNvtx, r.ts_ns);
        break;
    }
    case wire::Kind::RegionName:
        if (live)
            live->name = stringOf(r.name_id);
        else
            ++m_count.unknown_regions;
        break;
    default:
        break;
    }
}

int64_t FileIngest::frameOf(uint64_t ip, uint64_t ts)
{
    if (wire::isPythonFrame(ip)) [[unlikely]]
        return pythonFrameOf(ip);
    auto& cached = m_ipFrames[ip];
    const ModuleInfo* module = cached.first;
    if (!cached.second || (module && (ts < module->load_ts || ts >= module->unload_ts))) {
        module = m_modules.find(ip, ts);
        // Frames inside the capture library are not the program's: no frame row, no callsite.
        if (module != cached.first || !cached.second)
            cached = { module, module && module->drop_frames ? -1 : m_ctx.trie.frame(module, ip, m_plan.id, m_ctx.out) };
    }
    return cached.second;
}

// A Python frame (wire::kPythonFrameTag | PyFrame id): a frame row in no module, named by a
// symbols row (function, file, line) as soon as its PyFrame record and strings are known; they may
// come later, from another thread's chunk, so the rest is named at the end of the file.
int64_t FileIngest::pythonFrameOf(uint64_t ip)
{
    auto& cached = m_ipFrames[ip];
    if (cached.second)
        return cached.second;
    int64_t frame = m_ctx.trie.frame(nullptr, ip, m_plan.id, m_ctx.out);
    cached = { nullptr, frame };
    if (!writePythonSymbol(frame, uint32_t(ip)))
        m_pySymbolsPending.emplace_back(frame, uint32_t(ip));
    return frame;
}

bool FileIngest::writePythonSymbol(int64_t frame, uint32_t pyFrameId)
{
    if (m_ctx.pythonSymbolRows.count(frame))
        return true;
    auto it = m_pyFrames.find(pyFrameId);
    if (it == m_pyFrames.end())
        return false;
    int64_t function = stringOf(it->second.function_id), file = stringOf(it->second.file_id);
    if (!function || !file)
        return false;
    m_ctx.out.tableRow(m_ctx.out.symbols,
        trace::SymbolRow { .frame_id = frame, .function_id = function, .file_id = file, .line = it->second.line });
    m_ctx.pythonSymbolRows.insert(frame);
    return true;
}

// Frames whose PyFrame record or strings never came (a file cut short) stay unnamed: the report
// shows their frame value.
void FileIngest::finishPythonSymbols()
{
    for (const auto& [frame, id] : m_pySymbolsPending)
        writePythonSymbol(frame, id);
    m_pySymbolsPending.clear();
}

// Appends the outermost `count` frames of a stack, innermost first, following its parents.
void FileIngest::outerFrames(uint32_t stackId, size_t count, std::vector<uint64_t>& out) const
{
    while (count) {
        auto it = m_stacks.find(stackId);
        if (it == m_stacks.end())
            return;
        const StackRef& s = it->second;
        size_t own = s.depth - s.shared;
        if (count > s.depth)
            count = s.depth;
        size_t first = s.depth - count; // index, innermost first, of the first frame wanted
        if (first < own) {
            out.insert(out.end(), m_stackIps.begin() + ptrdiff_t(s.offset + first), m_stackIps.begin() + ptrdiff_t(s.offset + own));
            count = s.shared;
        }
        stackId = s.parent;
    }
}

// The trie grows from the outermost frame. A stack sharing its outer frames with a resolved,
// clean parent starts from the parent's callsite that many levels up and adds only its own frames;
// otherwise (a parent with capture-library frames in it) the shared frames are looked up again.
void FileIngest::resolveStack(StackRef& s, uint64_t ts)
{
    int64_t node = 0;
    if (s.shared) {
        auto p = m_stacks.find(s.parent);
        if (p == m_stacks.end() || p->second.callsite < 0 || p->second.depth < s.shared) {
            ++m_count.unknown_stacks; // its parent's record was lost: keep the frames it has
        } else if (p->second.clean) {
            node = m_ctx.trie.ancestor(p->second.callsite, uint32_t(p->second.depth - s.shared));
        } else {
            std::vector<uint64_t> outer;
            outerFrames(s.parent, s.shared, outer);
            for (size_t i = outer.size(); i-- > 0;)
                if (int64_t frame = frameOf(outer[i], ts); frame >= 0)
                    node = m_ctx.trie.child(node, frame, m_ctx.out);
        }
    }
    for (size_t i = s.depth - s.shared; i-- > 0;)
        if (int64_t frame = frameOf(m_stackIps[s.offset + i], ts); frame >= 0)
            node = m_ctx.trie.child(node, frame, m_ctx.out);
    s.callsite = node;
    s.clean = node > 0 && m_ctx.trie.depthOf(node) + 1 == s.depth;
}

int64_t FileIngest::callsiteOf(uint32_t stackId, uint64_t ts)
{
    if (stackId == 0)
        return 0;
    auto it = m_stacks.find(stackId);
    if (it == m_stacks.end()) {
        ++m_count.unknown_stacks;
        return 0;
    }
    if (it->second.callsite >= 0)
        return it->second.callsite;
    // Resolve the unresolved parents first, oldest first (a thread's stacks chain back a long way,
    // so no recursion). unordered_map nodes stay put: the pointers are stable.
    std::vector<StackRef*> chain { &it->second };
    while (chain.back()->shared) {
        auto p = m_stacks.find(chain.back()->parent);
        if (p == m_stacks.end() || p->second.callsite >= 0 || p->second.shared > p->second.depth)
            break;
        chain.push_back(&p->second);
    }
    for (size_t i = chain.size(); i-- > 0;)
        resolveStack(*chain[i], ts);
    return it->second.callsite;
}

} // namespace tidemark::collector
