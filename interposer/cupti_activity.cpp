// CUPTI activity buffers → wire records. CUPTI hands over completed buffers on its own worker
// thread; this walks them with cuptiActivityGetNextRecord and turns the CUDA 13 record structs
// (Kernel10, Memcpy6, Memset4, Memory4, MemoryPool3) into Kernel/Memcpy/Memset/Alloc/Free/Sample
// records. Timestamps are already CLOCK_MONOTONIC: the session registers nowNs as CUPTI's clock.
#include "interposer/cupti_internal.h"
#include "interposer/emit.h"
#include "trace/enums.h"

#include <atomic>
#include <sys/mman.h>

namespace tidemark::interposer::cupti {

namespace {

    constexpr size_t kBufferBytes = 4u << 20;

    std::atomic<uint64_t> g_totals[8];

    template <typename T> void fillHeader(T& r, wire::Kind kind) noexcept
    {
        r.h.kind = static_cast<uint16_t>(kind);
        r.h.size_bytes = sizeof(T);
    }

    // What a kernel, memcpy and memset activity record share: when, on which device, context and
    // stream, and the correlation with its API call.
    template <typename Record, typename Activity> void fillSpan(Record& r, const Activity& a) noexcept
    {
        r.start_ts_ns = a.start;
        r.end_ts_ns = a.end;
        r.device = a.deviceId;
        r.context = a.contextId;
        r.stream = a.streamId;
        r.correlation_id = a.correlationId;
    }

    // Which tidemark space a CUPTI memory kind belongs to; false for kinds not recorded (pageable host
    // memory is the malloc hooks' business, unknown memory has no space).
    bool spaceOf(uint32_t memoryKind, SpaceKind& out) noexcept
    {
        switch (memoryKind) {
        case CUPTI_ACTIVITY_MEMORY_KIND_DEVICE:
        case CUPTI_ACTIVITY_MEMORY_KIND_ARRAY:
        case CUPTI_ACTIVITY_MEMORY_KIND_DEVICE_STATIC:
            out = SpaceKind::Device;
            return true;
        case CUPTI_ACTIVITY_MEMORY_KIND_PINNED:
            out = SpaceKind::Pinned;
            return true;
        case CUPTI_ACTIVITY_MEMORY_KIND_MANAGED:
        case CUPTI_ACTIVITY_MEMORY_KIND_MANAGED_STATIC:
            out = SpaceKind::Managed;
            return true;
        default:
            return false;
        }
    }

    uint8_t device8(uint32_t device) noexcept
    {
        return device < 256 ? static_cast<uint8_t>(device) : 255;
    }

    void onKernel(const CUpti_ActivityKernel10& k, ActivityCounts& c) noexcept
    {
        if (k.start == 0 || k.end == 0) {
            ++c.incomplete;
            return;
        }
        wire::KernelRecord r {};
        fillHeader(r, wire::Kind::Kernel);
        r.name_id = internString(k.name);
        fillSpan(r, k);
        r.grid[0] = static_cast<uint32_t>(k.gridX);
        r.grid[1] = static_cast<uint32_t>(k.gridY);
        r.grid[2] = static_cast<uint32_t>(k.gridZ);
        r.block[0] = static_cast<uint32_t>(k.blockX);
        r.block[1] = static_cast<uint32_t>(k.blockY);
        r.block[2] = static_cast<uint32_t>(k.blockZ);
        r.registers_per_thread = k.registersPerThread;
        r.static_shared_bytes = static_cast<uint32_t>(k.staticSharedMemory);
        r.dynamic_shared_bytes = static_cast<uint32_t>(k.dynamicSharedMemory);
        emit(&r, sizeof(r));
        ++c.kernels;
    }

    // What a memcpy and a memset activity record share: fillSpan, and how much.
    template <typename Record, typename Activity> void fillTransfer(Record& r, const Activity& a) noexcept
    {
        fillSpan(r, a);
        r.bytes = a.bytes;
    }

    void onMemcpy(const CUpti_ActivityMemcpy6& m, ActivityCounts& c) noexcept
    {
        if (m.start == 0 || m.end == 0) {
            ++c.incomplete;
            return;
        }
        wire::MemcpyRecord r {};
        fillHeader(r, wire::Kind::Memcpy);
        r.copy_kind = m.copyKind;
        r.src_kind = m.srcKind;
        r.dst_kind = m.dstKind;
        fillTransfer(r, m);
        emit(&r, sizeof(r));
        ++c.memcpys;
    }

    void onMemset(const CUpti_ActivityMemset4& m, ActivityCounts& c) noexcept
    {
        if (m.start == 0 || m.end == 0) {
            ++c.incomplete;
            return;
        }
        wire::MemsetRecord r {};
        fillHeader(r, wire::Kind::Memset);
        r.value = m.value;
        fillTransfer(r, m);
        emit(&r, sizeof(r));
        ++c.memsets;
    }

    // A pool's reserved and used bytes as a Sample of the device's pool space.
    void emitPoolSample(uint32_t device, uint64_t ts, uint64_t reserved, uint64_t used) noexcept
    {
        wire::SampleRecord r {};
        fillHeader(r, wire::Kind::Sample);
        r.space_kind = static_cast<uint8_t>(SpaceKind::Pool);
        r.device = device8(device);
        r.ts_ns = ts;
        r.total_bytes = reserved;
        r.free_bytes = reserved >= used ? reserved - used : 0;
        emit(&r, sizeof(r));
    }

    void onMemory(const CUpti_ActivityMemory4& m, ActivityCounts& c) noexcept
    {
        SpaceKind space;
        if (!spaceOf(m.memoryKind, space)) {
            ++c.ignored;
            return;
        }
        if (m.timestamp == 0) {
            ++c.incomplete;
            return;
        }
        uint64_t stream = m.streamId == CUPTI_INVALID_STREAM_ID ? 0 : m.streamId; // CUPTI's stream id
        if (m.memoryOperationType == CUPTI_ACTIVITY_MEMORY_OPERATION_TYPE_ALLOCATION) {
            wire::AllocRecord r {};
            fillHeader(r, wire::Kind::Alloc);
            r.api = static_cast<uint16_t>(Api::CuptiMemoryActivity);
            r.space_kind = static_cast<uint8_t>(space);
            r.device = space == SpaceKind::Device ? device8(m.deviceId) : 0;
            r.ts_ns = m.timestamp;
            r.address = m.address;
            r.size = m.bytes;
            r.stream = stream;
            r.source = kSourceCuptiActivity;
            emit(&r, sizeof(r));
            ++c.allocs;
        } else if (m.memoryOperationType == CUPTI_ACTIVITY_MEMORY_OPERATION_TYPE_RELEASE) {
            wire::FreeRecord r {};
            fillHeader(r, wire::Kind::Free);
            r.api = static_cast<uint16_t>(Api::CuptiMemoryActivity);
            r.space_kind = static_cast<uint8_t>(space);
            r.device = space == SpaceKind::Device ? device8(m.deviceId) : 0;
            r.ts_ns = m.timestamp;
            r.address = m.address;
            r.source = kSourceCuptiActivity;
            emit(&r, sizeof(r));
            ++c.frees;
        } else {
            ++c.ignored;
            return;
        }
        // Stream-ordered allocations also tell how full their pool is at that moment.
        if (m.memoryPoolConfig.memoryPoolType == CUPTI_ACTIVITY_MEMORY_POOL_TYPE_LOCAL && m.memoryPoolConfig.pool.size)
            emitPoolSample(m.deviceId, m.timestamp, m.memoryPoolConfig.pool.size, m.memoryPoolConfig.utilizedSize);
    }

    void onMemoryPool(const CUpti_ActivityMemoryPool3& p, ActivityCounts& c) noexcept
    {
        if (p.timestamp == 0) {
            ++c.incomplete;
            return;
        }
        bool destroyed = p.memoryPoolOperationType == CUPTI_ACTIVITY_MEMORY_POOL_OPERATION_TYPE_DESTROYED;
        emitPoolSample(p.deviceId, p.timestamp, destroyed ? 0 : p.size, destroyed ? 0 : p.utilizedSize);
        ++c.poolEvents;
    }

    void addTotals(const ActivityCounts& c) noexcept
    {
        const uint64_t values[8]
            = { c.kernels, c.memcpys, c.memsets, c.allocs, c.frees, c.poolEvents, c.incomplete, c.ignored };
        for (int i = 0; i < 8; ++i)
            g_totals[i].fetch_add(values[i], std::memory_order_relaxed);
    }

} // namespace

ActivityCounts processActivityBuffer(uint8_t* buffer, size_t validBytes) noexcept
{
    ActivityCounts c;
    CUpti_Activity* record = nullptr;
    while (buffer && cuptiActivityGetNextRecord(buffer, validBytes, &record) == CUPTI_SUCCESS) {
        switch (record->kind) {
        case CUPTI_ACTIVITY_KIND_KERNEL:
        case CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL:
            onKernel(*reinterpret_cast<const CUpti_ActivityKernel10*>(record), c);
            break;
        case CUPTI_ACTIVITY_KIND_MEMCPY:
            onMemcpy(*reinterpret_cast<const CUpti_ActivityMemcpy6*>(record), c);
            break;
        case CUPTI_ACTIVITY_KIND_MEMSET:
            onMemset(*reinterpret_cast<const CUpti_ActivityMemset4*>(record), c);
            break;
        case CUPTI_ACTIVITY_KIND_MEMORY2:
            onMemory(*reinterpret_cast<const CUpti_ActivityMemory4*>(record), c);
            break;
        case CUPTI_ACTIVITY_KIND_MEMORY_POOL:
            onMemoryPool(*reinterpret_cast<const CUpti_ActivityMemoryPool3*>(record), c);
            break;
        default:
            ++c.ignored;
            break;
        }
    }
    addTotals(c);
    return c;
}

ActivityCounts activityTotals() noexcept
{
    ActivityCounts c;
    uint64_t* fields[8]
        = { &c.kernels, &c.memcpys, &c.memsets, &c.allocs, &c.frees, &c.poolEvents, &c.incomplete, &c.ignored };
    for (int i = 0; i < 8; ++i)
        *fields[i] = g_totals[i].load(std::memory_order_relaxed);
    return c;
}

void CUPTIAPI bufferRequested(uint8_t** buffer, size_t* size, size_t* maxNumRecords)
{
    // Fresh anonymous pages are zeroed and 8-byte aligned, and never come from the hooked malloc.
    void* mem = mmap(nullptr, kBufferBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    *buffer = mem == MAP_FAILED ? nullptr : static_cast<uint8_t*>(mem);
    *size = mem == MAP_FAILED ? 0 : kBufferBytes;
    *maxNumRecords = 0; // as many as fit
}

void CUPTIAPI bufferCompleted(CUcontext context, uint32_t streamId, uint8_t* buffer, size_t size, size_t validSize)
{
    ReentryGuard guard;
    processActivityBuffer(buffer, validSize);
    size_t dropped = 0;
    if (cuptiActivityGetNumDroppedRecords(context, streamId, &dropped) == CUPTI_SUCCESS && dropped > 0) {
        static std::atomic<uint64_t> totalDropped { 0 };
        uint64_t total = totalDropped.fetch_add(dropped) + dropped;
        emitStat(wire::StatSource::Cupti, "cupti.activity_dropped", total,
            "activity records CUPTI dropped because buffers were full");
    }
    if (buffer)
        munmap(buffer, size);
}

} // namespace tidemark::interposer::cupti
