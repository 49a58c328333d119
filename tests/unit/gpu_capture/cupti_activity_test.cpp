// CUPTI activity handling without a GPU: buffers are filled with the installed toolkit's real record
// structs (CUpti_ActivityKernel10, Memcpy6, Memset4, Memory4, MemoryPool3) laid out the way CUPTI
// lays them out, and handed to the same functions CUPTI calls (bufferRequested/bufferCompleted,
// which walk them with the real libcupti's cuptiActivityGetNextRecord).
#include "test_emit.h"

#include "interposer/cupti_internal.h"
#include "trace/enums.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

using namespace tidemark;
using namespace tidemark::interposer;
namespace te = tidemark::testemit;

namespace {

// Appends records at 8-byte boundaries, as CUPTI does (ACTIVITY_RECORD_ALIGNMENT).
struct Buffer {
    uint8_t* data;
    size_t capacity;
    size_t used = 0;
    template <typename T> void add(const T& record)
    {
        ASSERT_LE(used + sizeof(T), capacity);
        std::memcpy(data + used, &record, sizeof(T));
        used += (sizeof(T) + 7) & ~size_t(7);
    }
};

CUpti_ActivityKernel10 kernel(const char* name, uint64_t start, uint64_t end)
{
    CUpti_ActivityKernel10 k {};
    k.kind = CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL;
    k.name = name;
    k.start = start;
    k.end = end;
    k.deviceId = 1;
    k.contextId = 3;
    k.streamId = 14;
    k.correlationId = 99;
    k.gridX = 128;
    k.gridY = 2;
    k.gridZ = 1;
    k.blockX = 256;
    k.blockY = 1;
    k.blockZ = 1;
    k.registersPerThread = 32;
    k.staticSharedMemory = 1024;
    k.dynamicSharedMemory = 4096;
    return k;
}

CUpti_ActivityMemory4 memory(
    CUpti_ActivityMemoryOperationType op, CUpti_ActivityMemoryKind kind, uint64_t address, uint64_t bytes, uint64_t ts)
{
    CUpti_ActivityMemory4 m {};
    m.kind = CUPTI_ACTIVITY_KIND_MEMORY2;
    m.memoryOperationType = op;
    m.memoryKind = kind;
    m.address = address;
    m.bytes = bytes;
    m.timestamp = ts;
    m.deviceId = 1;
    m.contextId = 3;
    m.streamId = CUPTI_INVALID_STREAM_ID;
    m.correlationId = 5;
    return m;
}

TEST(CuptiActivity, RealStructsBecomeWireRecords)
{
    te::clear();
    uint8_t* raw = nullptr;
    size_t size = 0, maxRecords = 0;
    cupti::bufferRequested(&raw, &size, &maxRecords); // the buffer CUPTI would fill
    ASSERT_NE(raw, nullptr);
    ASSERT_EQ(reinterpret_cast<uintptr_t>(raw) % 8, 0u);
    Buffer b { raw, size };

    b.add(kernel("gemm_kernel", 1000, 2500));
    CUpti_ActivityMemcpy6 copy {};
    copy.kind = CUPTI_ACTIVITY_KIND_MEMCPY;
    copy.copyKind = CUPTI_ACTIVITY_MEMCPY_KIND_HTOD;
    copy.srcKind = CUPTI_ACTIVITY_MEMORY_KIND_PINNED;
    copy.dstKind = CUPTI_ACTIVITY_MEMORY_KIND_DEVICE;
    copy.bytes = 1 << 20;
    copy.start = 3000;
    copy.end = 3400;
    copy.deviceId = 1;
    copy.streamId = 14;
    copy.correlationId = 100;
    b.add(copy);
    CUpti_ActivityMemset4 set {};
    set.kind = CUPTI_ACTIVITY_KIND_MEMSET;
    set.value = 0xAB;
    set.bytes = 4096;
    set.start = 3500;
    set.end = 3510;
    set.deviceId = 1;
    b.add(set);
    b.add(memory(CUPTI_ACTIVITY_MEMORY_OPERATION_TYPE_ALLOCATION, CUPTI_ACTIVITY_MEMORY_KIND_DEVICE, 0x7f0000000000,
        8 << 20, 900));
    b.add(memory(CUPTI_ACTIVITY_MEMORY_OPERATION_TYPE_ALLOCATION, CUPTI_ACTIVITY_MEMORY_KIND_MANAGED, 0x7e0000000000,
        4096, 910));
    b.add(memory(CUPTI_ACTIVITY_MEMORY_OPERATION_TYPE_RELEASE, CUPTI_ACTIVITY_MEMORY_KIND_DEVICE, 0x7f0000000000,
        8 << 20, 5000));
    b.add(
        memory(CUPTI_ACTIVITY_MEMORY_OPERATION_TYPE_ALLOCATION, CUPTI_ACTIVITY_MEMORY_KIND_PAGEABLE, 0x1000, 64, 920));
    auto pooled = memory(CUPTI_ACTIVITY_MEMORY_OPERATION_TYPE_ALLOCATION, CUPTI_ACTIVITY_MEMORY_KIND_DEVICE,
        0x7d0000000000, 1 << 20, 950);
    pooled.isAsync = 1;
    pooled.streamId = 14;
    pooled.memoryPoolConfig.memoryPoolType = CUPTI_ACTIVITY_MEMORY_POOL_TYPE_LOCAL;
    pooled.memoryPoolConfig.pool.size = 32 << 20;
    pooled.memoryPoolConfig.utilizedSize = 3 << 20;
    b.add(pooled);
    CUpti_ActivityMemoryPool3 pool {};
    pool.kind = CUPTI_ACTIVITY_KIND_MEMORY_POOL;
    pool.memoryPoolOperationType = CUPTI_ACTIVITY_MEMORY_POOL_OPERATION_TYPE_TRIMMED;
    pool.memoryPoolType = CUPTI_ACTIVITY_MEMORY_POOL_TYPE_LOCAL;
    pool.deviceId = 1;
    pool.size = 16 << 20;
    pool.utilizedSize = 2 << 20;
    pool.timestamp = 6000;
    b.add(pool);
    b.add(kernel("still_running", 7000, 0)); // forced flush: end timestamp not yet known
    CUpti_ActivityAPI api {}; // a kind we do not enable: skipped, counted
    api.kind = CUPTI_ACTIVITY_KIND_RUNTIME;
    b.add(api);

    cupti::ActivityCounts before = cupti::activityTotals();
    cupti::bufferCompleted(nullptr, 0, raw, size, b.used); // same entry as CUPTI's worker thread
    cupti::ActivityCounts after = cupti::activityTotals();
    EXPECT_EQ(after.kernels - before.kernels, 1u);
    EXPECT_EQ(after.incomplete - before.incomplete, 1u);
    EXPECT_EQ(after.ignored - before.ignored, 2u) << "pageable MEMORY2 and the RUNTIME record";

    auto kernels = te::recordsOfKind(wire::Kind::Kernel);
    ASSERT_EQ(kernels.size(), 1u);
    auto k = kernels[0].as<wire::KernelRecord>();
    EXPECT_EQ(te::stringText(k.name_id), "gemm_kernel");
    EXPECT_EQ(k.start_ts_ns, 1000u);
    EXPECT_EQ(k.end_ts_ns, 2500u);
    EXPECT_EQ(k.device, 1u);
    EXPECT_EQ(k.stream, 14u);
    EXPECT_EQ(k.correlation_id, 99u);
    EXPECT_EQ(k.grid[0], 128u);
    EXPECT_EQ(k.grid[1], 2u);
    EXPECT_EQ(k.block[0], 256u);
    EXPECT_EQ(k.registers_per_thread, 32u);
    EXPECT_EQ(k.static_shared_bytes, 1024u);
    EXPECT_EQ(k.dynamic_shared_bytes, 4096u);

    auto copies = te::recordsOfKind(wire::Kind::Memcpy);
    ASSERT_EQ(copies.size(), 1u);
    auto c = copies[0].as<wire::MemcpyRecord>();
    EXPECT_EQ(c.copy_kind, CUPTI_ACTIVITY_MEMCPY_KIND_HTOD);
    EXPECT_EQ(c.src_kind, CUPTI_ACTIVITY_MEMORY_KIND_PINNED);
    EXPECT_EQ(c.bytes, 1u << 20);
    EXPECT_EQ(c.end_ts_ns - c.start_ts_ns, 400u);
    EXPECT_EQ(c.correlation_id, 100u);

    auto sets = te::recordsOfKind(wire::Kind::Memset);
    ASSERT_EQ(sets.size(), 1u);
    EXPECT_EQ(sets[0].as<wire::MemsetRecord>().value, 0xABu);
    EXPECT_EQ(sets[0].as<wire::MemsetRecord>().bytes, 4096u);

    auto allocs = te::recordsOfKind(wire::Kind::Alloc);
    ASSERT_EQ(allocs.size(), 3u);
    auto dev = allocs[0].as<wire::AllocRecord>();
    EXPECT_EQ(dev.address, 0x7f0000000000u);
    EXPECT_EQ(dev.size, 8u << 20);
    EXPECT_EQ(dev.space_kind, static_cast<uint8_t>(SpaceKind::Device));
    EXPECT_EQ(dev.device, 1);
    EXPECT_EQ(dev.ts_ns, 900u);
    EXPECT_EQ(dev.source, kSourceCuptiActivity);
    EXPECT_EQ(dev.api, static_cast<uint16_t>(Api::CuptiMemoryActivity));
    EXPECT_EQ(dev.stream, 0u) << "CUPTI_INVALID_STREAM_ID means: not stream-ordered";
    EXPECT_EQ(allocs[1].as<wire::AllocRecord>().space_kind, static_cast<uint8_t>(SpaceKind::Managed));
    EXPECT_EQ(allocs[2].as<wire::AllocRecord>().stream, 14u);

    auto frees = te::recordsOfKind(wire::Kind::Free);
    ASSERT_EQ(frees.size(), 1u);
    EXPECT_EQ(frees[0].as<wire::FreeRecord>().address, 0x7f0000000000u);
    EXPECT_EQ(frees[0].as<wire::FreeRecord>().ts_ns, 5000u);
    EXPECT_EQ(frees[0].as<wire::FreeRecord>().source, kSourceCuptiActivity);

    auto samples = te::recordsOfKind(wire::Kind::Sample);
    ASSERT_EQ(samples.size(), 2u) << "one from the pooled MEMORY2 record, one from MEMORY_POOL";
    auto s0 = samples[0].as<wire::SampleRecord>();
    EXPECT_EQ(s0.space_kind, static_cast<uint8_t>(SpaceKind::Pool));
    EXPECT_EQ(s0.total_bytes, 32u << 20);
    EXPECT_EQ(s0.free_bytes, 29u << 20);
    auto s1 = samples[1].as<wire::SampleRecord>();
    EXPECT_EQ(s1.total_bytes, 16u << 20);
    EXPECT_EQ(s1.free_bytes, 14u << 20);
    EXPECT_EQ(s1.ts_ns, 6000u);
}

TEST(CuptiActivity, EmptyAndTruncatedBuffersAreHarmless)
{
    te::clear();
    alignas(8) uint8_t buf[512] = {};
    EXPECT_EQ(cupti::processActivityBuffer(nullptr, 0).kernels, 0u);
    EXPECT_EQ(cupti::processActivityBuffer(buf, 0).kernels, 0u);
    auto k = kernel("k", 1, 2);
    std::memcpy(buf, &k, sizeof(k) < sizeof(buf) ? sizeof(k) : sizeof(buf));
    // A valid size shorter than the record: CUPTI must not hand back a partial record.
    EXPECT_EQ(cupti::processActivityBuffer(buf, 16).kernels, 0u);
    EXPECT_TRUE(te::recordsOfKind(wire::Kind::Kernel).empty());
}

} // namespace
