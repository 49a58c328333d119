// LD_PRELOAD hooks of the CUDA runtime's memory API. Each hook calls the real cudart function inside
// a ReentryGuard (so the host malloc hooks do not count cudart's own bookkeeping a second time) and
// then records the outcome: an AllocRecord / FreeRecord with space, device ordinal and stream, or an
// AllocFailedRecord with cudaMemGetInfo at the moment of failure. Only targets that link libcudart
// dynamically reach these hooks; CUPTI callbacks cover static cudart and the driver API.
#include "interposer/cuda_hooks.h"
#include "interposer/device_records.h"
#include "interposer/emit.h"

#include <cstdint>

namespace tidemark::interposer::cuda {

namespace {

    // The writer drops the leading libtidemark.so frames (these helpers and the hook); 1 = no more.
    constexpr unsigned kStackSkip = 1;
    constexpr uint8_t kNoDevice = 0; // pinned and managed memory belong to no single device

    uint8_t currentDevice(const RealRuntime& r) noexcept
    {
        int device = 0;
        if (r.getDevice && r.getDevice(&device) == cudaSuccess && device >= 0 && device < 256)
            return static_cast<uint8_t>(device);
        return 0;
    }

    // The device a stream-ordered call runs on: the stream's device when cudart can tell (12.8+),
    // otherwise the current device (the legacy and per-thread default streams follow it).
    uint8_t streamDevice(const RealRuntime& r, cudaStream_t stream) noexcept
    {
        int device = 0;
        if (stream && r.streamGetDevice && r.streamGetDevice(stream, &device) == cudaSuccess && device >= 0
            && device < 256)
            return static_cast<uint8_t>(device);
        return currentDevice(r);
    }

    struct Target {
        Api api;
        SpaceKind space;
        uint8_t device;
        uint64_t stream;
    };

    __attribute__((noinline)) void recordAlloc(const Target& t, const void* address, uint64_t size) noexcept
    {
        emitDeviceAlloc({ t.api, t.space, t.device, t.stream, kSourcePreload }, reinterpret_cast<uint64_t>(address),
            size, captureStack(kStackSkip));
    }

    __attribute__((noinline)) void recordFailure(
        const RealRuntime& real, const Target& t, uint64_t size, cudaError_t rc) noexcept
    {
        uint32_t stackId = captureStack(kStackSkip);
        // cudaMemGetInfo describes the current device; only then does it describe this failure.
        size_t freeBytes = 0, totalBytes = 0;
        bool known = t.space != SpaceKind::Pinned && real.memGetInfo && t.device == currentDevice(real)
            && real.memGetInfo(&freeBytes, &totalBytes) == cudaSuccess;
        emitDeviceFailure({ t.api, t.space, t.device, t.stream, kSourcePreload }, size, stackId,
            static_cast<int32_t>(rc), known ? freeBytes : UINT64_MAX, known ? totalBytes : UINT64_MAX);
    }

    void recordFree(const Target& t, const void* address) noexcept
    {
        emitDeviceFree({ t.api, t.space, t.device, t.stream, kSourcePreload }, reinterpret_cast<uint64_t>(address));
    }

    // Shared tail of every allocating hook.
    __attribute__((always_inline)) inline void afterAlloc(
        const RealRuntime& real, const Target& t, cudaError_t rc, const void* address, uint64_t size) noexcept
    {
        countCall(t.api, rc != cudaSuccess);
        if (rc == cudaSuccess)
            recordAlloc(t, address, size);
        else
            recordFailure(real, t, size, rc);
    }

    // Where a pointer about to be freed lives, asked before the free (afterwards it is gone):
    // cudaFree releases device and managed memory alike, on whichever device it was allocated.
    Target freeTarget(const RealRuntime& real, Api api, const void* ptr, uint64_t stream) noexcept
    {
        Target t { api, SpaceKind::Device, currentDevice(real), stream };
        cudaPointerAttributes attr {};
        if (real.pointerGetAttributes && real.pointerGetAttributes(&attr, ptr) == cudaSuccess) {
            if (attr.type == cudaMemoryTypeManaged) {
                t.space = SpaceKind::Managed;
                t.device = kNoDevice;
            } else if (attr.type == cudaMemoryTypeDevice && attr.device >= 0 && attr.device < 256) {
                t.device = static_cast<uint8_t>(attr.device);
            }
        }
        return t;
    }

    using AsyncFree = cudaError_t (*RealRuntime::*)(void*, cudaStream_t);
    using SyncFree = cudaError_t (*RealRuntime::*)(void*);
    using AsyncAlloc = cudaError_t (*RealRuntime::*)(void**, size_t, cudaStream_t);
    using PoolAlloc = cudaError_t (*RealRuntime::*)(void**, size_t, cudaMemPool_t, cudaStream_t);

    // Inlined into each hook so the stack skip stays the same for every API; the real function is
    // looked up inside the guard because dlsym may allocate.
    __attribute__((always_inline)) inline cudaError_t freeCommon(
        Api api, void* ptr, cudaStream_t stream, AsyncFree asyncMember, SyncFree syncMember) noexcept
    {
        ReentryGuard guard;
        const RealRuntime& r = real();
        auto asyncFn = asyncMember ? r.*asyncMember : nullptr;
        auto syncFn = syncMember ? r.*syncMember : nullptr;
        if (!asyncFn && !syncFn)
            return kNoRealRuntime;
        if (guard.wasAlreadyInside() || !ptr) // cudaFree(nullptr) only initialises the context
            return asyncFn ? asyncFn(ptr, stream) : syncFn(ptr);
        Target t = freeTarget(r, api, ptr, reinterpret_cast<uint64_t>(stream));
        cudaError_t rc = asyncFn ? asyncFn(ptr, stream) : syncFn(ptr);
        countCall(api, rc != cudaSuccess);
        if (rc == cudaSuccess)
            recordFree(t, ptr); // for cudaFreeAsync: when the free was enqueued (stream order)
        return rc;
    }

    __attribute__((always_inline)) inline cudaError_t mallocAsyncCommon(Api api, void** ptr, size_t size,
        cudaMemPool_t pool, cudaStream_t stream, AsyncAlloc asyncMember, PoolAlloc poolMember) noexcept
    {
        ReentryGuard guard;
        const RealRuntime& r = real();
        auto asyncFn = asyncMember ? r.*asyncMember : nullptr;
        auto poolFn = poolMember ? r.*poolMember : nullptr;
        if (!asyncFn && !poolFn)
            return kNoRealRuntime;
        cudaError_t rc = asyncFn ? asyncFn(ptr, size, stream) : poolFn(ptr, size, pool, stream);
        if (!guard.wasAlreadyInside())
            afterAlloc(r, { api, SpaceKind::Device, streamDevice(r, stream), reinterpret_cast<uint64_t>(stream) }, rc,
                ptr ? *ptr : nullptr, size);
        return rc;
    }

} // namespace

} // namespace tidemark::interposer::cuda

using namespace tidemark;
using namespace tidemark::interposer;
using namespace tidemark::interposer::cuda;

#define TIDEMARK_HOOK extern "C" __attribute__((visibility("default")))

TIDEMARK_HOOK cudaError_t cudaMalloc(void** devPtr, size_t size)
{
    ReentryGuard guard;
    const RealRuntime& r = real();
    if (!r.malloc)
        return kNoRealRuntime;
    cudaError_t rc = r.malloc(devPtr, size);
    if (!guard.wasAlreadyInside())
        afterAlloc(
            r, { Api::CudaMalloc, SpaceKind::Device, currentDevice(r), 0 }, rc, devPtr ? *devPtr : nullptr, size);
    return rc;
}

TIDEMARK_HOOK cudaError_t cudaMallocManaged(void** devPtr, size_t size, unsigned int flags)
{
    ReentryGuard guard;
    const RealRuntime& r = real();
    if (!r.mallocManaged)
        return kNoRealRuntime;
    cudaError_t rc = r.mallocManaged(devPtr, size, flags);
    if (!guard.wasAlreadyInside())
        afterAlloc(
            r, { Api::CudaMallocManaged, SpaceKind::Managed, kNoDevice, 0 }, rc, devPtr ? *devPtr : nullptr, size);
    return rc;
}

TIDEMARK_HOOK cudaError_t cudaMallocHost(void** ptr, size_t size)
{
    ReentryGuard guard;
    const RealRuntime& r = real();
    if (!r.mallocHost)
        return kNoRealRuntime;
    cudaError_t rc = r.mallocHost(ptr, size);
    if (!guard.wasAlreadyInside())
        afterAlloc(r, { Api::CudaMallocHost, SpaceKind::Pinned, kNoDevice, 0 }, rc, ptr ? *ptr : nullptr, size);
    return rc;
}

TIDEMARK_HOOK cudaError_t cudaHostAlloc(void** pHost, size_t size, unsigned int flags)
{
    ReentryGuard guard;
    const RealRuntime& r = real();
    if (!r.hostAlloc)
        return kNoRealRuntime;
    cudaError_t rc = r.hostAlloc(pHost, size, flags);
    if (!guard.wasAlreadyInside())
        afterAlloc(r, { Api::CudaHostAlloc, SpaceKind::Pinned, kNoDevice, 0 }, rc, pHost ? *pHost : nullptr, size);
    return rc;
}

TIDEMARK_HOOK cudaError_t cudaMallocPitch(void** devPtr, size_t* pitch, size_t width, size_t height)
{
    ReentryGuard guard;
    const RealRuntime& r = real();
    if (!r.mallocPitch)
        return kNoRealRuntime;
    cudaError_t rc = r.mallocPitch(devPtr, pitch, width, height);
    if (!guard.wasAlreadyInside()) {
        // The bytes really reserved are pitch x height; on failure only the request is known.
        uint64_t bytes = rc == cudaSuccess && pitch ? uint64_t(*pitch) * height : uint64_t(width) * height;
        afterAlloc(
            r, { Api::CudaMallocPitch, SpaceKind::Device, currentDevice(r), 0 }, rc, devPtr ? *devPtr : nullptr, bytes);
    }
    return rc;
}

TIDEMARK_HOOK cudaError_t cudaMalloc3D(cudaPitchedPtr* pitchedDevPtr, cudaExtent extent)
{
    ReentryGuard guard;
    const RealRuntime& r = real();
    if (!r.malloc3D)
        return kNoRealRuntime;
    cudaError_t rc = r.malloc3D(pitchedDevPtr, extent);
    if (!guard.wasAlreadyInside()) {
        uint64_t rows = uint64_t(extent.height) * extent.depth;
        bool ok = rc == cudaSuccess && pitchedDevPtr;
        uint64_t bytes = ok ? uint64_t(pitchedDevPtr->pitch) * rows : uint64_t(extent.width) * rows;
        afterAlloc(r, { Api::CudaMalloc3D, SpaceKind::Device, currentDevice(r), 0 }, rc,
            ok ? pitchedDevPtr->ptr : nullptr, bytes);
    }
    return rc;
}

TIDEMARK_HOOK cudaError_t cudaMallocAsync(void** devPtr, size_t size, cudaStream_t stream)
{
    return mallocAsyncCommon(Api::CudaMallocAsync, devPtr, size, nullptr, stream, &RealRuntime::mallocAsync, nullptr);
}

TIDEMARK_HOOK cudaError_t cudaMallocAsync_ptsz(void** devPtr, size_t size, cudaStream_t stream)
{
    return mallocAsyncCommon(
        Api::CudaMallocAsync, devPtr, size, nullptr, stream, &RealRuntime::mallocAsyncPtsz, nullptr);
}

TIDEMARK_HOOK cudaError_t cudaMallocFromPoolAsync(void** ptr, size_t size, cudaMemPool_t pool, cudaStream_t stream)
{
    return mallocAsyncCommon(
        Api::CudaMallocFromPoolAsync, ptr, size, pool, stream, nullptr, &RealRuntime::mallocFromPoolAsync);
}

TIDEMARK_HOOK cudaError_t cudaMallocFromPoolAsync_ptsz(void** ptr, size_t size, cudaMemPool_t pool, cudaStream_t stream)
{
    return mallocAsyncCommon(
        Api::CudaMallocFromPoolAsync, ptr, size, pool, stream, nullptr, &RealRuntime::mallocFromPoolAsyncPtsz);
}

TIDEMARK_HOOK cudaError_t cudaFree(void* devPtr)
{
    return freeCommon(Api::CudaFree, devPtr, nullptr, nullptr, &RealRuntime::free);
}

TIDEMARK_HOOK cudaError_t cudaFreeAsync(void* devPtr, cudaStream_t stream)
{
    return freeCommon(Api::CudaFreeAsync, devPtr, stream, &RealRuntime::freeAsync, nullptr);
}

TIDEMARK_HOOK cudaError_t cudaFreeAsync_ptsz(void* devPtr, cudaStream_t stream)
{
    return freeCommon(Api::CudaFreeAsync, devPtr, stream, &RealRuntime::freeAsyncPtsz, nullptr);
}

TIDEMARK_HOOK cudaError_t cudaFreeHost(void* ptr)
{
    ReentryGuard guard;
    const RealRuntime& r = real();
    if (!r.freeHost)
        return kNoRealRuntime;
    cudaError_t rc = r.freeHost(ptr);
    if (!guard.wasAlreadyInside() && ptr) {
        countCall(Api::CudaFreeHost, rc != cudaSuccess);
        if (rc == cudaSuccess)
            recordFree({ Api::CudaFreeHost, SpaceKind::Pinned, kNoDevice, 0 }, ptr);
    }
    return rc;
}
