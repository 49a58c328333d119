// Names of the enumerations in enums.h, as shown in reports and stored in the `apis` table.
#include "trace/enums.h"
#include "trace/result.h"

namespace tidemark {

const char* errorCodeName(ErrorCode code)
{
    switch (code) {
    case ErrorCode::Ok: return "ok";
    case ErrorCode::NotARecording: return "not-a-recording";
    case ErrorCode::NewerSchema: return "newer-schema";
    case ErrorCode::OlderSchema: return "older-schema";
    case ErrorCode::Corrupt: return "corrupt";
    case ErrorCode::Io: return "io";
    case ErrorCode::Usage: return "usage";
    case ErrorCode::Unsupported: return "unsupported";
    case ErrorCode::Cancelled: return "cancelled";
    case ErrorCode::NotFound: return "not-found";
    }
    return "unknown";
}

std::string_view apiName(Api api)
{
    switch (api) {
    case Api::Unknown: return "unknown";
    case Api::Malloc: return "malloc";
    case Api::Calloc: return "calloc";
    case Api::Realloc: return "realloc";
    case Api::PosixMemalign: return "posix_memalign";
    case Api::AlignedAlloc: return "aligned_alloc";
    case Api::Memalign: return "memalign";
    case Api::Valloc: return "valloc";
    case Api::Pvalloc: return "pvalloc";
    case Api::Reallocarray: return "reallocarray";
    case Api::Free: return "free";
    case Api::CudaMalloc: return "cudaMalloc";
    case Api::CudaMallocAsync: return "cudaMallocAsync";
    case Api::CudaMallocFromPoolAsync: return "cudaMallocFromPoolAsync";
    case Api::CudaMallocManaged: return "cudaMallocManaged";
    case Api::CudaMallocHost: return "cudaMallocHost";
    case Api::CudaHostAlloc: return "cudaHostAlloc";
    case Api::CudaMallocPitch: return "cudaMallocPitch";
    case Api::CudaMalloc3D: return "cudaMalloc3D";
    case Api::CudaFree: return "cudaFree";
    case Api::CudaFreeAsync: return "cudaFreeAsync";
    case Api::CudaFreeHost: return "cudaFreeHost";
    case Api::CuMemAlloc: return "cuMemAlloc";
    case Api::CuMemAllocPitch: return "cuMemAllocPitch";
    case Api::CuMemAllocAsync: return "cuMemAllocAsync";
    case Api::CuMemAllocFromPoolAsync: return "cuMemAllocFromPoolAsync";
    case Api::CuMemAllocManaged: return "cuMemAllocManaged";
    case Api::CuMemAllocHost: return "cuMemAllocHost";
    case Api::CuMemHostAlloc: return "cuMemHostAlloc";
    case Api::CuMemCreate: return "cuMemCreate";
    case Api::CuMemMap: return "cuMemMap";
    case Api::CuMemFree: return "cuMemFree";
    case Api::CuMemFreeAsync: return "cuMemFreeAsync";
    case Api::CuMemFreeHost: return "cuMemFreeHost";
    case Api::CuMemRelease: return "cuMemRelease";
    case Api::CuMemUnmap: return "cuMemUnmap";
    case Api::CuptiMemoryActivity: return "cupti-memory-activity";
    case Api::NvtxMemRegion: return "nvtxMemRegion";
    case Api::NvtxMemHeap: return "nvtxMemHeap";
    case Api::TorchBlock: return "torch-block";
    case Api::TorchSegment: return "torch-segment";
    case Api::KinetoMemory: return "kineto-memory";
    case Api::NsysRuntime: return "nsys-cuda-runtime";
    case Api::NsysMemoryUsage: return "nsys-memory-usage";
    }
    return "unknown";
}

std::string_view spaceKindName(SpaceKind kind)
{
    switch (kind) {
    case SpaceKind::Host: return "host";
    case SpaceKind::Device: return "device";
    case SpaceKind::Pinned: return "pinned";
    case SpaceKind::Managed: return "managed";
    case SpaceKind::Pool: return "pool";
    }
    return "unknown";
}

} // namespace tidemark
