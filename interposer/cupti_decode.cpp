// Decodes CUPTI runtime and driver callbacks of memory APIs into ApiCall values, reading the
// per-function params structs of the toolkit's generated_cuda_meta.h and
// generated_cuda_runtime_api_meta.h. Output pointers are read at API exit, when they are filled.
#include "interposer/cupti_internal.h"

#include <cuda.h>
#include <cuda_runtime_api.h> // cupti.h brings the generated_cuda*_meta.h params structs

namespace tidemark::interposer::cupti {

namespace {

    using Op = ApiCall::Op;

    template <typename T> const T& params(const CUpti_CallbackData& cb) noexcept
    {
        return *static_cast<const T*>(cb.functionParams);
    }

    uint64_t out(void* const* p) noexcept
    {
        return p ? reinterpret_cast<uint64_t>(*p) : 0;
    }
    uint64_t out(const CUdeviceptr* p) noexcept
    {
        return p ? static_cast<uint64_t>(*p) : 0;
    }
    uint64_t handle(const void* stream) noexcept
    {
        return reinterpret_cast<uint64_t>(stream);
    }

    ApiCall alloc(Api api, SpaceKind space, uint64_t address, uint64_t size, uint64_t stream = 0) noexcept
    {
        return { api, Op::Alloc, space, address, size, stream };
    }

    ApiCall release(Api api, SpaceKind space, uint64_t address, uint64_t stream = 0) noexcept
    {
        return { api, Op::Free, space, address, 0, stream };
    }

} // namespace

bool decodeRuntime(CUpti_CallbackId cbid, const CUpti_CallbackData& cb, ApiCall& c) noexcept
{
    if (!cb.functionParams)
        return false;
    switch (cbid) {
    case CUPTI_RUNTIME_TRACE_CBID_cudaMalloc_v3020: {
        auto& p = params<cudaMalloc_v3020_params>(cb);
        c = alloc(Api::CudaMalloc, SpaceKind::Device, out(p.devPtr), p.size);
        return true;
    }
    case CUPTI_RUNTIME_TRACE_CBID_cudaMallocPitch_v3020: {
        auto& p = params<cudaMallocPitch_v3020_params>(cb);
        uint64_t pitch = p.pitch ? *p.pitch : 0;
        c = alloc(Api::CudaMallocPitch, SpaceKind::Device, out(p.devPtr), (pitch ? pitch : p.width) * p.height);
        return true;
    }
    case CUPTI_RUNTIME_TRACE_CBID_cudaMalloc3D_v3020: {
        auto& p = params<cudaMalloc3D_v3020_params>(cb);
        uint64_t rows = uint64_t(p.extent.height) * p.extent.depth;
        uint64_t pitch = p.pitchedDevPtr ? p.pitchedDevPtr->pitch : 0;
        uint64_t address = p.pitchedDevPtr ? reinterpret_cast<uint64_t>(p.pitchedDevPtr->ptr) : 0;
        c = alloc(Api::CudaMalloc3D, SpaceKind::Device, address, (pitch ? pitch : p.extent.width) * rows);
        return true;
    }
    case CUPTI_RUNTIME_TRACE_CBID_cudaMallocAsync_v11020:
    case CUPTI_RUNTIME_TRACE_CBID_cudaMallocAsync_ptsz_v11020: {
        auto& p = params<cudaMallocAsync_v11020_params>(cb); // the _ptsz params have the same layout
        c = alloc(Api::CudaMallocAsync, SpaceKind::Device, out(p.devPtr), p.size, handle(p.hStream));
        return true;
    }
    case CUPTI_RUNTIME_TRACE_CBID_cudaMallocFromPoolAsync_v11020:
    case CUPTI_RUNTIME_TRACE_CBID_cudaMallocFromPoolAsync_ptsz_v11020: {
        auto& p = params<cudaMallocFromPoolAsync_v11020_params>(cb);
        c = alloc(Api::CudaMallocFromPoolAsync, SpaceKind::Device, out(p.ptr), p.size, handle(p.stream));
        return true;
    }
    case CUPTI_RUNTIME_TRACE_CBID_cudaMallocManaged_v6000: {
        auto& p = params<cudaMallocManaged_v6000_params>(cb);
        c = alloc(Api::CudaMallocManaged, SpaceKind::Managed, out(p.devPtr), p.size);
        return true;
    }
    case CUPTI_RUNTIME_TRACE_CBID_cudaMallocHost_v3020: {
        auto& p = params<cudaMallocHost_v3020_params>(cb);
        c = alloc(Api::CudaMallocHost, SpaceKind::Pinned, out(p.ptr), p.size);
        return true;
    }
    case CUPTI_RUNTIME_TRACE_CBID_cudaHostAlloc_v3020: {
        auto& p = params<cudaHostAlloc_v3020_params>(cb);
        c = alloc(Api::CudaHostAlloc, SpaceKind::Pinned, out(p.pHost), p.size);
        return true;
    }
    case CUPTI_RUNTIME_TRACE_CBID_cudaFree_v3020:
        c = release(
            Api::CudaFree, SpaceKind::Device, reinterpret_cast<uint64_t>(params<cudaFree_v3020_params>(cb).devPtr));
        return true;
    case CUPTI_RUNTIME_TRACE_CBID_cudaFreeAsync_v11020:
    case CUPTI_RUNTIME_TRACE_CBID_cudaFreeAsync_ptsz_v11020: {
        auto& p = params<cudaFreeAsync_v11020_params>(cb);
        c = release(Api::CudaFreeAsync, SpaceKind::Device, reinterpret_cast<uint64_t>(p.devPtr), handle(p.hStream));
        return true;
    }
    case CUPTI_RUNTIME_TRACE_CBID_cudaFreeHost_v3020:
        c = release(Api::CudaFreeHost, SpaceKind::Pinned,
            reinterpret_cast<uint64_t>(params<cudaFreeHost_v3020_params>(cb).ptr));
        return true;
    default:
        return false;
    }
}

bool decodeDriver(CUpti_CallbackId cbid, const CUpti_CallbackData& cb, ApiCall& c) noexcept
{
    if (!cb.functionParams)
        return false;
    switch (cbid) {
    case CUPTI_DRIVER_TRACE_CBID_cuMemAlloc_v2: {
        auto& p = params<cuMemAlloc_v2_params>(cb);
        c = alloc(Api::CuMemAlloc, SpaceKind::Device, out(p.dptr), p.bytesize);
        return true;
    }
    case CUPTI_DRIVER_TRACE_CBID_cuMemAllocPitch_v2: {
        auto& p = params<cuMemAllocPitch_v2_params>(cb);
        uint64_t pitch = p.pPitch ? *p.pPitch : 0;
        c = alloc(Api::CuMemAllocPitch, SpaceKind::Device, out(p.dptr), (pitch ? pitch : p.WidthInBytes) * p.Height);
        return true;
    }
    case CUPTI_DRIVER_TRACE_CBID_cuMemAllocAsync:
    case CUPTI_DRIVER_TRACE_CBID_cuMemAllocAsync_ptsz: {
        auto& p = params<cuMemAllocAsync_params>(cb);
        c = alloc(Api::CuMemAllocAsync, SpaceKind::Device, out(p.dptr), p.bytesize, handle(p.hStream));
        return true;
    }
    case CUPTI_DRIVER_TRACE_CBID_cuMemAllocFromPoolAsync:
    case CUPTI_DRIVER_TRACE_CBID_cuMemAllocFromPoolAsync_ptsz: {
        auto& p = params<cuMemAllocFromPoolAsync_params>(cb);
        c = alloc(Api::CuMemAllocFromPoolAsync, SpaceKind::Device, out(p.dptr), p.bytesize, handle(p.hStream));
        return true;
    }
    case CUPTI_DRIVER_TRACE_CBID_cuMemAllocManaged: {
        auto& p = params<cuMemAllocManaged_params>(cb);
        c = alloc(Api::CuMemAllocManaged, SpaceKind::Managed, out(p.dptr), p.bytesize);
        return true;
    }
    case CUPTI_DRIVER_TRACE_CBID_cuMemAllocHost_v2: {
        auto& p = params<cuMemAllocHost_v2_params>(cb);
        c = alloc(Api::CuMemAllocHost, SpaceKind::Pinned, out(p.pp), p.bytesize);
        return true;
    }
    case CUPTI_DRIVER_TRACE_CBID_cuMemHostAlloc: {
        auto& p = params<cuMemHostAlloc_params>(cb);
        c = alloc(Api::CuMemHostAlloc, SpaceKind::Pinned, out(p.pp), p.bytesize);
        return true;
    }
    case CUPTI_DRIVER_TRACE_CBID_cuMemFree_v2:
        c = release(Api::CuMemFree, SpaceKind::Device, params<cuMemFree_v2_params>(cb).dptr);
        return true;
    case CUPTI_DRIVER_TRACE_CBID_cuMemFreeAsync:
    case CUPTI_DRIVER_TRACE_CBID_cuMemFreeAsync_ptsz: {
        auto& p = params<cuMemFreeAsync_params>(cb);
        c = release(Api::CuMemFreeAsync, SpaceKind::Device, p.dptr, handle(p.hStream));
        return true;
    }
    case CUPTI_DRIVER_TRACE_CBID_cuMemFreeHost:
        c = release(
            Api::CuMemFreeHost, SpaceKind::Pinned, reinterpret_cast<uint64_t>(params<cuMemFreeHost_params>(cb).p));
        return true;
    case CUPTI_DRIVER_TRACE_CBID_cuMemCreate: {
        // Physical memory: recorded by its generic allocation handle, not by an address. Mappings
        // (cuMemMap/cuMemUnmap) are only counted so the bytes are not counted twice.
        auto& p = params<cuMemCreate_params>(cb);
        c = alloc(Api::CuMemCreate, SpaceKind::Device, p.handle ? static_cast<uint64_t>(*p.handle) : 0, p.size);
        if (p.prop && p.prop->location.type == CU_MEM_LOCATION_TYPE_DEVICE)
            c.device = p.prop->location.id; // the device the physical memory lives on
        return true;
    }
    case CUPTI_DRIVER_TRACE_CBID_cuMemRelease:
        c = release(
            Api::CuMemRelease, SpaceKind::Device, static_cast<uint64_t>(params<cuMemRelease_params>(cb).handle));
        return true;
    default:
        return false;
    }
}

} // namespace tidemark::interposer::cupti
