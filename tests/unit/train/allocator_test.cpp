// Unit tests of tidemark-train's caching allocator, against a test double segment source (host
// memory with a byte counter and an optional capacity). Every block is filled with a pattern
// derived from its address, so two blocks that overlapped would corrupt each other's pattern.
#include "caching_allocator.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <map>
#include <random>

using namespace tidemark::train;

namespace {

constexpr size_t kMiB = 1 << 20;

// Test double: hands out host memory like a device would, counts what is outstanding, and can
// refuse requests beyond a capacity (to provoke the allocator's free-cache-and-retry path).
class CountingSource final : public SegmentSource {
public:
    explicit CountingSource(size_t capacity = SIZE_MAX)
        : m_capacity(capacity)
    {
    }
    void* allocateSegment(size_t bytes) override
    {
        if (m_outstanding + bytes > m_capacity)
            return nullptr;
        void* p = std::aligned_alloc(512, (bytes + 511) / 512 * 512);
        m_outstanding += bytes;
        ++m_allocations;
        m_sizes[p] = bytes;
        return p;
    }
    void freeSegment(void* ptr, size_t bytes) override
    {
        ASSERT_EQ(m_sizes.at(ptr), bytes) << "segment freed with a different size than it was made with";
        m_sizes.erase(ptr);
        m_outstanding -= bytes;
        std::free(ptr);
    }
    size_t outstanding() const { return m_outstanding; }
    size_t allocations() const { return m_allocations; }
    size_t live() const { return m_sizes.size(); }

private:
    size_t m_capacity;
    size_t m_outstanding = 0;
    size_t m_allocations = 0;
    std::map<void*, size_t> m_sizes;
};

uint8_t patternByte(uintptr_t addr, size_t i)
{
    return static_cast<uint8_t>((addr >> 9) * 31 + i * 7);
}

// Sparse (every 1021st byte, plus the last one) so a 24 MiB block does not take long to stamp.
void fill(void* p, size_t n)
{
    auto* b = static_cast<uint8_t*>(p);
    for (size_t i = 0; i < n; i += 1021)
        b[i] = patternByte(reinterpret_cast<uintptr_t>(p), i);
    b[n - 1] = patternByte(reinterpret_cast<uintptr_t>(p), n - 1);
}

bool intact(void* p, size_t n)
{
    const auto* b = static_cast<const uint8_t*>(p);
    for (size_t i = 0; i < n; i += 1021)
        if (b[i] != patternByte(reinterpret_cast<uintptr_t>(p), i))
            return false;
    return b[n - 1] == patternByte(reinterpret_cast<uintptr_t>(p), n - 1);
}

// Blocks tile each segment exactly, no two free blocks are adjacent (they would have been
// merged), and the live set is exactly what the test holds, each block big enough.
void checkInvariants(const CachingAllocator& alloc, const std::map<void*, size_t>& live)
{
    const auto segments = alloc.segments();
    const auto blocks = alloc.blocks();
    size_t allocated = 0, reserved = 0, liveSeen = 0;
    for (const SegmentInfo& seg : segments) {
        reserved += seg.sizeBytes;
        uintptr_t cursor = seg.address;
        bool prevFree = false;
        for (const BlockInfo& b : blocks) {
            if (b.segment != seg.address)
                continue;
            ASSERT_EQ(b.address, cursor) << "gap or overlap inside a segment";
            cursor += b.sizeBytes;
            ASSERT_FALSE(prevFree && !b.allocated) << "two adjacent free blocks were not merged";
            prevFree = !b.allocated;
            if (b.allocated) {
                allocated += b.sizeBytes;
                ++liveSeen;
                auto it = live.find(reinterpret_cast<void*>(b.address));
                ASSERT_NE(it, live.end()) << "allocated block the caller does not hold";
                ASSERT_GE(b.sizeBytes, it->second);
                ASSERT_EQ(b.sizeBytes % CachingAllocator::kMinBlockSize, 0u);
                ASSERT_EQ(seg.smallPool, it->second <= CachingAllocator::kSmallSize) << "request in the wrong pool";
            }
        }
        ASSERT_EQ(cursor, seg.address + seg.sizeBytes) << "blocks do not cover the segment";
    }
    ASSERT_EQ(liveSeen, live.size());
    ASSERT_EQ(alloc.stats().allocatedBytes, allocated);
    ASSERT_EQ(alloc.stats().reservedBytes, reserved);
}

} // namespace

TEST(CachingAllocatorTest, RoundsRequestsTo512Bytes)
{
    EXPECT_EQ(CachingAllocator::roundSize(0), 512u);
    EXPECT_EQ(CachingAllocator::roundSize(1), 512u);
    EXPECT_EQ(CachingAllocator::roundSize(512), 512u);
    EXPECT_EQ(CachingAllocator::roundSize(513), 1024u);
    EXPECT_EQ(CachingAllocator::roundSize(100000), 100352u);
    CountingSource src;
    CachingAllocator alloc(src, true);
    void* a = alloc.allocate(1, Tag::Workspace);
    void* b = alloc.allocate(513, Tag::Workspace);
    EXPECT_EQ(static_cast<char*>(b) - static_cast<char*>(a), 512);
    EXPECT_EQ(alloc.stats().allocatedBytes, 512u + 1024u);
    alloc.free(a);
    alloc.free(b);
}

TEST(CachingAllocatorTest, SegmentSizesFollowThePools)
{
    EXPECT_EQ(CachingAllocator::segmentSizeFor(512), 2 * kMiB);
    EXPECT_EQ(CachingAllocator::segmentSizeFor(kMiB), 2 * kMiB);
    EXPECT_EQ(CachingAllocator::segmentSizeFor(kMiB + 512), 20 * kMiB);
    EXPECT_EQ(CachingAllocator::segmentSizeFor(10 * kMiB - 512), 20 * kMiB);
    EXPECT_EQ(CachingAllocator::segmentSizeFor(10 * kMiB), 10 * kMiB);
    EXPECT_EQ(CachingAllocator::segmentSizeFor(11 * kMiB), 12 * kMiB);

    CountingSource src;
    CachingAllocator alloc(src, true);
    // The 11 MiB request comes first: once a 20 MiB segment exists, its remainder would serve it.
    void* huge = alloc.allocate(11 * kMiB, Tag::Workspace);
    void* small = alloc.allocate(kMiB, Tag::Workspace);
    void* small1 = alloc.allocate(kMiB, Tag::Workspace); // fills the 2 MiB small segment
    void* large = alloc.allocate(kMiB + 1, Tag::Workspace);
    const auto segs = alloc.segments();
    ASSERT_EQ(segs.size(), 3u);
    size_t smallSegs = 0;
    for (const auto& s : segs)
        smallSegs += s.smallPool;
    EXPECT_EQ(smallSegs, 1u);
    EXPECT_EQ(src.outstanding(), 2 * kMiB + 20 * kMiB + 12 * kMiB);
    // A small request never lands in a large segment, even when the large pool has room.
    alloc.free(large);
    void* small2 = alloc.allocate(kMiB, Tag::Workspace);
    EXPECT_EQ(alloc.stats().segmentsCreated, 4u);
    for (void* p : { small, small1, huge, small2 })
        alloc.free(p);
    alloc.emptyCache();
    EXPECT_EQ(src.outstanding(), 0u);
}

TEST(CachingAllocatorTest, SplitsAndMergesNeighbours)
{
    CountingSource src;
    CachingAllocator alloc(src, true);
    void* a = alloc.allocate(1000, Tag::Activation);
    void* b = alloc.allocate(1000, Tag::Activation);
    void* c = alloc.allocate(1000, Tag::Activation);
    ASSERT_EQ(src.allocations(), 1u);
    EXPECT_EQ(static_cast<char*>(b) - static_cast<char*>(a), 1024);
    EXPECT_EQ(static_cast<char*>(c) - static_cast<char*>(b), 1024);
    ASSERT_EQ(alloc.blocks().size(), 4u); // a, b, c and the rest of the 2 MiB segment

    alloc.free(b); // a hole between two live blocks
    auto blocks = alloc.blocks();
    ASSERT_EQ(blocks.size(), 4u);
    EXPECT_FALSE(blocks[1].allocated);
    EXPECT_EQ(blocks[1].sizeBytes, 1024u);

    alloc.free(a); // merges forward with b's hole
    blocks = alloc.blocks();
    ASSERT_EQ(blocks.size(), 3u);
    EXPECT_EQ(blocks[0].sizeBytes, 2048u);
    EXPECT_FALSE(blocks[0].allocated);

    void* d = alloc.allocate(2048, Tag::Workspace); // best fit: exactly the merged hole
    EXPECT_EQ(d, a);
    alloc.free(d);
    alloc.free(c); // merges both ways: the segment is one free block again
    blocks = alloc.blocks();
    ASSERT_EQ(blocks.size(), 1u);
    EXPECT_EQ(blocks[0].sizeBytes, 2 * kMiB);
    EXPECT_EQ(alloc.stats().reservedBytes, 2 * kMiB); // cached, not returned
    alloc.emptyCache();
    EXPECT_EQ(src.outstanding(), 0u);
    EXPECT_EQ(alloc.stats().segmentsFreed, 1u);
}

TEST(CachingAllocatorTest, LargePoolKeepsSmallRemaindersInTheBlock)
{
    CountingSource src;
    CachingAllocator alloc(src, true);
    // 19.5 MiB in a 20 MiB segment: the 0.5 MiB remainder is too small to split off.
    void* a = alloc.allocate(19 * kMiB + kMiB / 2, Tag::Workspace);
    EXPECT_EQ(alloc.stats().allocatedBytes, 20 * kMiB);
    alloc.free(a);
    // 18 MiB leaves 2 MiB, which is split off and reusable.
    void* b = alloc.allocate(18 * kMiB, Tag::Workspace);
    void* c = alloc.allocate(2 * kMiB, Tag::Workspace);
    EXPECT_EQ(src.allocations(), 1u);
    EXPECT_EQ(static_cast<char*>(c) - static_cast<char*>(b), static_cast<long>(18 * kMiB));
    alloc.free(b);
    alloc.free(c);
}

TEST(CachingAllocatorTest, RandomWorkloadKeepsBlocksDisjointAndReturnsEverything)
{
    CountingSource src;
    std::map<void*, size_t> live;
    {
        CachingAllocator alloc(src, true);
        std::mt19937_64 gen(7);
        std::uniform_int_distribution<int> coin(0, 99);
        std::uniform_int_distribution<size_t> smallSize(1, kMiB);
        std::uniform_int_distribution<size_t> largeSize(kMiB + 1, 24 * kMiB);
        for (int op = 0; op < 4000; ++op) {
            const bool doAlloc = live.empty() || coin(gen) < 55;
            if (doAlloc) {
                const size_t n = coin(gen) < 80 ? smallSize(gen) : largeSize(gen);
                void* p = alloc.allocate(n, static_cast<Tag>(op % kTagCount));
                ASSERT_NE(p, nullptr);
                ASSERT_EQ(live.count(p), 0u) << "address handed out twice";
                fill(p, n);
                live[p] = n;
            } else {
                auto it = live.begin();
                std::advance(it, std::uniform_int_distribution<size_t>(0, live.size() - 1)(gen));
                ASSERT_TRUE(intact(it->first, it->second)) << "block contents were overwritten";
                alloc.free(it->first);
                live.erase(it);
            }
            if (op % 50 == 0)
                checkInvariants(alloc, live);
        }
        checkInvariants(alloc, live);
        EXPECT_EQ(alloc.stats().reservedBytes, src.outstanding());
        for (auto& [p, n] : live) {
            ASSERT_TRUE(intact(p, n));
            alloc.free(p);
        }
        live.clear();
        checkInvariants(alloc, live);
        EXPECT_EQ(alloc.stats().allocatedBytes, 0u);
        for (size_t t = 0; t < kTagCount; ++t)
            EXPECT_EQ(alloc.stats().tagBytes[t], 0u) << tagName(static_cast<Tag>(t));
        EXPECT_LE(alloc.stats().peakAllocatedBytes, alloc.stats().peakReservedBytes);
        alloc.emptyCache();
        EXPECT_EQ(alloc.stats().reservedBytes, 0u);
        EXPECT_EQ(alloc.stats().segmentsCreated, alloc.stats().segmentsFreed);
    }
    EXPECT_EQ(src.outstanding(), 0u);
    EXPECT_EQ(src.live(), 0u);
}

TEST(CachingAllocatorTest, NoCacheIsOneBackendAllocationPerRequest)
{
    CountingSource src;
    CachingAllocator alloc(src, false);
    void* a = alloc.allocate(1000, Tag::Weight);
    void* b = alloc.allocate(3 * kMiB, Tag::Activation);
    EXPECT_EQ(src.allocations(), 2u);
    EXPECT_EQ(src.outstanding(), 1000u + 3 * kMiB); // exact sizes: no rounding, no segments
    EXPECT_EQ(alloc.stats().allocatedBytes, src.outstanding());
    alloc.free(a);
    EXPECT_EQ(src.outstanding(), 3 * kMiB); // returned at once, nothing cached
    alloc.free(b);
    EXPECT_EQ(src.outstanding(), 0u);
    EXPECT_EQ(alloc.stats().segmentsCreated, 2u);
    EXPECT_EQ(alloc.stats().segmentsFreed, 2u);
    EXPECT_EQ(alloc.stats().peakAllocatedBytes, 1000u + 3 * kMiB);
}

TEST(CachingAllocatorTest, FreesTheCacheAndRetriesBeforeFailing)
{
    CountingSource src(24 * kMiB);
    CachingAllocator alloc(src, true);
    std::vector<void*> smalls;
    for (int i = 0; i < 6; ++i)
        smalls.push_back(alloc.allocate(kMiB, Tag::Workspace)); // 3 small segments = 6 MiB
    for (void* p : smalls)
        alloc.free(p); // cached: still reserved
    EXPECT_EQ(src.outstanding(), 6 * kMiB);
    // 20 MiB segment does not fit next to the 6 MiB cache; the allocator must release it.
    void* big = alloc.allocate(5 * kMiB, Tag::Workspace);
    ASSERT_NE(big, nullptr);
    EXPECT_EQ(alloc.stats().segmentsFreed, 3u);
    EXPECT_EQ(src.outstanding(), 20 * kMiB);
    void* fits = alloc.allocate(10 * kMiB, Tag::Workspace); // carved from the 15 MiB left in big's segment
    EXPECT_NE(fits, nullptr);
    EXPECT_EQ(src.allocations(), 4u);
    EXPECT_EQ(alloc.allocate(6 * kMiB, Tag::Workspace), nullptr); // genuinely out of memory
    alloc.free(fits);
    EXPECT_EQ(alloc.stats().failedAllocs, 1u);
    alloc.free(big);
}

TEST(CachingAllocatorTest, CountsBytesAndPeaksPerTag)
{
    CountingSource src;
    CachingAllocator alloc(src, true);
    void* w = alloc.allocate(4096, Tag::Weight);
    void* a1 = alloc.allocate(1000, Tag::Activation);
    void* a2 = alloc.allocate(1000, Tag::Activation);
    alloc.free(a1);
    void* a3 = alloc.allocate(512, Tag::Activation);
    const auto& s = alloc.stats();
    EXPECT_EQ(s.tagBytes[static_cast<size_t>(Tag::Weight)], 4096u);
    EXPECT_EQ(s.tagBytes[static_cast<size_t>(Tag::Activation)], 1024u + 512u);
    EXPECT_EQ(s.tagPeakBytes[static_cast<size_t>(Tag::Activation)], 2048u);
    EXPECT_EQ(s.peakAllocatedBytes, 4096u + 2048u);
    alloc.free(w);
    alloc.free(a2);
    alloc.free(a3);
    alloc.free(nullptr); // ignored
    int notOurs = 0;
    alloc.free(&notOurs); // ignored rather than corrupting the pools
    EXPECT_EQ(s.allocatedBytes, 0u);
    EXPECT_EQ(s.freeCalls, 4u); // a1, w, a2, a3; the ignored ones are not counted
}
