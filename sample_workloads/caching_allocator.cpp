// The caching allocator's mechanics: best-fit search in the size-ordered pool, splitting a block
// when the remainder is worth keeping, merging with free neighbours on free, and the byte
// accounting (allocated, reserved, per tag, their peaks) that tidemark-train writes to --truth.
#include "caching_allocator.h"

#include <algorithm>

namespace tidemark::train {

const char* tagName(Tag t)
{
    static constexpr const char* kNames[kTagCount] = { "activation", "activation_grad", "weight", "grad",
        "optimizer_state", "workspace", "input", "leak", "fragment" };
    const auto i = static_cast<size_t>(t);
    return i < kTagCount ? kNames[i] : "other";
}

CachingAllocator::CachingAllocator(SegmentSource& source, bool caching)
    : m_source(source)
    , m_caching(caching)
{
}

CachingAllocator::~CachingAllocator()
{
    if (m_caching) {
        emptyCache();
        // Segments still holding live blocks (the planted leak, or a caller that forgot a free) are
        // deliberately not returned: what leaked stays leaked, as it would in a real program.
        for (auto& [ptr, seg] : m_segments)
            for (Block* b = seg->first; b;) {
                Block* next = b->next;
                delete b;
                b = next;
            }
    } else {
        for (auto& [ptr, block] : m_active)
            delete block;
    }
}

size_t CachingAllocator::roundSize(size_t bytes)
{
    if (bytes < kMinBlockSize)
        return kMinBlockSize;
    return kMinBlockSize * ((bytes + kMinBlockSize - 1) / kMinBlockSize);
}

size_t CachingAllocator::segmentSizeFor(size_t rounded)
{
    if (rounded <= kSmallSize)
        return kSmallBuffer;
    if (rounded < kMinLargeAlloc)
        return kLargeBuffer;
    return kRoundLarge * ((rounded + kRoundLarge - 1) / kRoundLarge);
}

void CachingAllocator::accountAlloc(size_t size, Tag tag)
{
    m_stats.allocatedBytes += size;
    m_stats.peakAllocatedBytes = std::max(m_stats.peakAllocatedBytes, m_stats.allocatedBytes);
    auto& t = m_stats.tagBytes[static_cast<size_t>(tag)];
    t += size;
    auto& peak = m_stats.tagPeakBytes[static_cast<size_t>(tag)];
    peak = std::max(peak, t);
}

void CachingAllocator::accountFree(size_t size, Tag tag)
{
    m_stats.allocatedBytes -= size;
    m_stats.tagBytes[static_cast<size_t>(tag)] -= size;
}

void* CachingAllocator::allocateUncached(size_t bytes, Tag tag)
{
    const size_t size = std::max<size_t>(bytes, 1);
    void* p = m_source.allocateSegment(size);
    if (!p) {
        ++m_stats.failedAllocs;
        return nullptr;
    }
    auto* b = new Block { reinterpret_cast<uintptr_t>(p), size, true, tag, nullptr, nullptr, nullptr };
    m_active.emplace(b->ptr, b);
    ++m_stats.segmentsCreated;
    m_stats.segmentBytesCreated += size;
    m_stats.reservedBytes += size;
    m_stats.peakReservedBytes = std::max(m_stats.peakReservedBytes, m_stats.reservedBytes);
    accountAlloc(size, tag);
    return p;
}

CachingAllocator::Block* CachingAllocator::findFree(Pool& pool, size_t rounded)
{
    Block probe { 0, rounded, false, Tag::Workspace, nullptr, nullptr, nullptr };
    auto it = pool.lower_bound(&probe);
    if (it == pool.end())
        return nullptr;
    Block* b = *it;
    pool.erase(it);
    return b;
}

CachingAllocator::Block* CachingAllocator::newSegment(size_t rounded, bool small)
{
    const size_t size = segmentSizeFor(rounded);
    void* p = m_source.allocateSegment(size);
    if (!p) {
        // Like PyTorch: give the cache back to the backend and try once more before failing.
        emptyCache();
        p = m_source.allocateSegment(size);
        if (!p)
            return nullptr;
    }
    auto seg = std::make_unique<Segment>();
    seg->ptr = reinterpret_cast<uintptr_t>(p);
    seg->size = size;
    seg->small = small;
    seg->heap = m_nvtx.registerHeap(p, size, small ? "small pool segment" : "large pool segment");
    seg->first = new Block { seg->ptr, size, false, Tag::Workspace, nullptr, nullptr, seg.get() };
    Block* b = seg->first;
    m_segments.emplace(seg->ptr, std::move(seg));
    ++m_stats.segmentsCreated;
    m_stats.segmentBytesCreated += size;
    m_stats.reservedBytes += size;
    m_stats.peakReservedBytes = std::max(m_stats.peakReservedBytes, m_stats.reservedBytes);
    return b;
}

void CachingAllocator::splitIfWorthIt(Pool& pool, Block* block, size_t rounded)
{
    const size_t remaining = block->size - rounded;
    // Small-pool remainders are kept from 512 bytes; large-pool ones only above 1 MiB, so large
    // blocks are not chopped into slivers that no large request could use (PyTorch's rule).
    const bool worthIt = block->segment->small ? remaining >= kMinBlockSize : remaining > kSmallSize;
    if (!worthIt)
        return;
    auto* rest
        = new Block { block->ptr + rounded, remaining, false, Tag::Workspace, block, block->next, block->segment };
    if (block->next)
        block->next->prev = rest;
    block->next = rest;
    block->size = rounded;
    pool.insert(rest);
}

void* CachingAllocator::allocate(size_t bytes, Tag tag)
{
    ++m_stats.allocCalls;
    if (!m_caching)
        return allocateUncached(bytes, tag);
    const size_t rounded = roundSize(bytes);
    const bool small = rounded <= kSmallSize;
    Pool& pool = small ? m_small : m_large;
    Block* block = findFree(pool, rounded);
    if (!block)
        block = newSegment(rounded, small);
    if (!block) {
        ++m_stats.failedAllocs;
        return nullptr;
    }
    splitIfWorthIt(pool, block, rounded);
    block->allocated = true;
    block->tag = tag;
    m_active.emplace(block->ptr, block);
    accountAlloc(block->size, tag);
    auto* p = reinterpret_cast<void*>(block->ptr);
    m_nvtx.registerRegion(block->segment->heap, p, block->size, tagName(tag));
    return p;
}

void CachingAllocator::free(void* ptr)
{
    if (!ptr)
        return;
    auto it = m_active.find(reinterpret_cast<uintptr_t>(ptr));
    if (it == m_active.end())
        return; // not ours: ignoring is safer than corrupting the pools
    ++m_stats.freeCalls;
    Block* block = it->second;
    m_active.erase(it);
    accountFree(block->size, block->tag);
    if (!m_caching) {
        m_source.freeSegment(ptr, block->size);
        m_stats.reservedBytes -= block->size;
        ++m_stats.segmentsFreed;
        delete block;
        return;
    }
    m_nvtx.unregisterRegion(ptr);
    block->allocated = false;
    Pool& pool = block->segment->small ? m_small : m_large;
    // Merge with free neighbours inside the same segment.
    if (Block* prev = block->prev; prev && !prev->allocated) {
        pool.erase(prev);
        prev->size += block->size;
        prev->next = block->next;
        if (block->next)
            block->next->prev = prev;
        delete block;
        block = prev;
    }
    if (Block* next = block->next; next && !next->allocated) {
        pool.erase(next);
        block->size += next->size;
        block->next = next->next;
        if (next->next)
            next->next->prev = block;
        delete next;
    }
    pool.insert(block);
}

void CachingAllocator::releaseSegment(Segment* seg)
{
    Block* whole = seg->first;
    (seg->small ? m_small : m_large).erase(whole);
    delete whole;
    m_nvtx.unregisterHeap(seg->heap);
    m_source.freeSegment(reinterpret_cast<void*>(seg->ptr), seg->size);
    m_stats.reservedBytes -= seg->size;
    ++m_stats.segmentsFreed;
    const uintptr_t key = seg->ptr; // erase destroys seg, so the key must not live inside it
    m_segments.erase(key);
}

void CachingAllocator::emptyCache()
{
    if (!m_caching)
        return;
    std::vector<Segment*> idle;
    for (auto& [ptr, seg] : m_segments)
        if (!seg->first->allocated && !seg->first->next)
            idle.push_back(seg.get());
    for (Segment* seg : idle)
        releaseSegment(seg);
}

std::vector<SegmentInfo> CachingAllocator::segments() const
{
    std::vector<SegmentInfo> out;
    for (const auto& [ptr, seg] : m_segments) {
        SegmentInfo info { seg->ptr, seg->size, seg->small, 0, 0, 0 };
        for (const Block* b = seg->first; b; b = b->next) {
            ++info.blocks;
            if (b->allocated)
                info.allocatedBytes += b->size;
            else
                info.largestFreeBytes = std::max(info.largestFreeBytes, b->size);
        }
        out.push_back(info);
    }
    std::sort(out.begin(), out.end(), [](const SegmentInfo& a, const SegmentInfo& b) { return a.address < b.address; });
    return out;
}

std::vector<BlockInfo> CachingAllocator::blocks() const
{
    std::vector<BlockInfo> out;
    if (!m_caching) {
        for (const auto& [ptr, b] : m_active)
            out.push_back({ b->ptr, b->size, b->ptr, true, b->tag });
    } else {
        for (const auto& [ptr, seg] : m_segments)
            for (const Block* b = seg->first; b; b = b->next)
                out.push_back({ b->ptr, b->size, seg->ptr, b->allocated, b->tag });
    }
    std::sort(out.begin(), out.end(), [](const BlockInfo& a, const BlockInfo& b) { return a.address < b.address; });
    return out;
}

} // namespace tidemark::train
