// A caching device allocator modelled on PyTorch's CUDACachingAllocator: segments come from the
// backend, requests are rounded to 512 bytes and carved out of cached segments (best fit, split,
// merged on free), requests up to 1 MiB share 2 MiB small-pool segments, larger ones use the large
// pool. Every segment is announced to NVTX as a heap and every block as a named region.
#pragma once

#include "backend.h"
#include "nvtx_annotate.h"

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <set>
#include <unordered_map>
#include <vector>

namespace tidemark::train {

// What a block holds; used for the NVTX region name and the per-tag byte counts in the truth file.
enum class Tag : uint8_t {
    Activation, // hidden states saved for the backward pass
    ActivationGrad, // gradient flowing back through the hidden states
    Weight,
    Grad,
    OptimizerState,
    Workspace, // fp32 scratch of one layer, freed within the layer
    Input, // a batch of inputs and targets
    Leak, // the planted leak of --leak-every
    Fragment, // the blocks of the --fragment pattern
    Count
};
constexpr size_t kTagCount = static_cast<size_t>(Tag::Count);
const char* tagName(Tag t);

struct AllocatorStats {
    size_t allocatedBytes = 0; // sum of live block sizes (rounded)
    size_t peakAllocatedBytes = 0;
    size_t reservedBytes = 0; // sum of live segment sizes
    size_t peakReservedBytes = 0;
    uint64_t segmentsCreated = 0;
    uint64_t segmentsFreed = 0;
    uint64_t segmentBytesCreated = 0; // sum of the sizes of every segment ever obtained
    uint64_t allocCalls = 0;
    uint64_t freeCalls = 0;
    uint64_t failedAllocs = 0;
    std::array<size_t, kTagCount> tagBytes {};
    std::array<size_t, kTagCount> tagPeakBytes {};
};

struct SegmentInfo {
    uintptr_t address;
    size_t sizeBytes;
    bool smallPool;
    size_t allocatedBytes;
    size_t largestFreeBytes;
    size_t blocks;
};

struct BlockInfo {
    uintptr_t address;
    size_t sizeBytes;
    uintptr_t segment;
    bool allocated;
    Tag tag;
};

class CachingAllocator {
public:
    static constexpr size_t kMinBlockSize = 512;
    static constexpr size_t kSmallSize = 1 << 20; // requests up to this go to the small pool
    static constexpr size_t kSmallBuffer = 2 << 20; // small-pool segment size
    static constexpr size_t kMinLargeAlloc = 10 << 20; // below this, large segments are kLargeBuffer
    static constexpr size_t kLargeBuffer = 20 << 20;
    static constexpr size_t kRoundLarge = 2 << 20; // larger segments round up to this

    // caching = false is --no-cache: every request is its own backend allocation, freed at once.
    CachingAllocator(SegmentSource& source, bool caching);
    ~CachingAllocator(); // returns cached free segments; segments with live blocks are left alone
    CachingAllocator(const CachingAllocator&) = delete;
    CachingAllocator& operator=(const CachingAllocator&) = delete;

    // Returns nullptr when the backend cannot provide memory even after freeing the cache.
    void* allocate(size_t bytes, Tag tag);
    void free(void* ptr);
    // Returns every segment that holds no live block to the backend.
    void emptyCache();

    bool caching() const { return m_caching; }
    const AllocatorStats& stats() const { return m_stats; }
    std::vector<SegmentInfo> segments() const;
    std::vector<BlockInfo> blocks() const; // every block of every segment, in address order
    size_t liveBlocks() const { return m_active.size(); }

    static size_t roundSize(size_t bytes);
    static size_t segmentSizeFor(size_t roundedBytes);

private:
    struct Segment;
    struct Block {
        uintptr_t ptr;
        size_t size;
        bool allocated = false;
        Tag tag = Tag::Workspace;
        Block* prev = nullptr;
        Block* next = nullptr;
        Segment* segment;
    };
    struct Segment {
        uintptr_t ptr;
        size_t size;
        bool small;
        void* heap;
        Block* first;
    };
    struct BlockLess {
        bool operator()(const Block* a, const Block* b) const
        {
            return a->size != b->size ? a->size < b->size : a->ptr < b->ptr;
        }
    };
    using Pool = std::set<Block*, BlockLess>;

    void* allocateUncached(size_t bytes, Tag tag);
    Block* findFree(Pool& pool, size_t rounded);
    Block* newSegment(size_t rounded, bool small);
    void splitIfWorthIt(Pool& pool, Block* block, size_t rounded);
    void releaseSegment(Segment* seg);
    void accountAlloc(size_t size, Tag tag);
    void accountFree(size_t size, Tag tag);

    SegmentSource& m_source;
    bool m_caching;
    MemoryAnnotator m_nvtx;
    Pool m_small;
    Pool m_large;
    std::unordered_map<uintptr_t, Block*> m_active;
    std::unordered_map<uintptr_t, std::unique_ptr<Segment>> m_segments;
    AllocatorStats m_stats;
};

} // namespace tidemark::train
