// Enumerations stored in recordings and carried on the wire. Values are part of the file
// format: append, never renumber. Names are what reports and the `apis` table show.
#pragma once

#include <cstdint>
#include <string_view>

namespace tidemark {

// Which API made an allocation or a free.
enum class Api : uint16_t {
    Unknown = 0,
    // host heap (interposer)
    Malloc = 1,
    Calloc = 2,
    Realloc = 3,
    PosixMemalign = 4,
    AlignedAlloc = 5,
    Memalign = 6,
    Valloc = 7,
    Pvalloc = 8,
    Reallocarray = 9,
    Free = 10,
    // CUDA runtime
    CudaMalloc = 32,
    CudaMallocAsync = 33,
    CudaMallocFromPoolAsync = 34,
    CudaMallocManaged = 35,
    CudaMallocHost = 36,
    CudaHostAlloc = 37,
    CudaMallocPitch = 38,
    CudaMalloc3D = 39,
    CudaFree = 40,
    CudaFreeAsync = 41,
    CudaFreeHost = 42,
    // CUDA driver
    CuMemAlloc = 64,
    CuMemAllocPitch = 65,
    CuMemAllocAsync = 66,
    CuMemAllocFromPoolAsync = 67,
    CuMemAllocManaged = 68,
    CuMemAllocHost = 69,
    CuMemHostAlloc = 70,
    CuMemCreate = 71,
    CuMemMap = 72,
    CuMemFree = 73,
    CuMemFreeAsync = 74,
    CuMemFreeHost = 75,
    CuMemRelease = 76,
    CuMemUnmap = 77,
    CuptiMemoryActivity = 78, // seen only through a CUPTI MEMORY2 record
    // NVTX memory extension
    NvtxMemRegion = 96,
    NvtxMemHeap = 97,
    // importers
    TorchBlock = 128,
    TorchSegment = 129,
    KinetoMemory = 130,
    NsysRuntime = 131,
    NsysMemoryUsage = 132,
};

std::string_view apiName(Api api);
constexpr uint16_t kApiMax = 160;

// Kind of memory space; a recording has one `spaces` row per (kind, device, pool).
enum class SpaceKind : uint8_t {
    Host = 0,
    Device = 1,
    Pinned = 2,
    Managed = 3,
    Pool = 4, // a caching allocator's pool: regions (in use) inside heaps (reserved)
};

std::string_view spaceKindName(SpaceKind kind);

// Which capture source saw a row (bit mask: the same allocation seen by two sources is stored once).
enum SourceBits : uint32_t {
    kSourcePreload = 1u << 0,       // LD_PRELOAD hook
    kSourceCuptiCallback = 1u << 1, // CUPTI runtime/driver API callback
    kSourceCuptiActivity = 1u << 2, // CUPTI activity record
    kSourceNvtx = 1u << 3,          // NVTX injection (incl. memory extension)
    kSourceImport = 1u << 4,        // imported from another tool's file
};

} // namespace tidemark
