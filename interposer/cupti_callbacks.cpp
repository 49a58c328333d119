// The CUPTI subscriber callback: runtime and driver memory APIs, seen from inside CUDA whatever way
// the caller reached them (static cudart, cuGetProcAddress, direct driver calls). At API exit each
// call becomes an Alloc / Free / AllocFailed record with source kSourceCuptiCallback, the caller's
// host stack and its thread's NVTX range. Driver calls nested inside a runtime memory call are
// skipped, so one cudaMalloc gives one record here. Context teardown flushes activity buffers.
#include "interposer/cupti_internal.h"
#include "interposer/device_records.h"
#include "interposer/emit.h"

#include <atomic>
#include <cstdio>
#include <mutex>
#include <unordered_map>

namespace tidemark::interposer::cupti {

namespace {

    // Frames of the record helper itself; the bridge adds its own. onCallback and the CUPTI/driver frames
    // above the application stay in the stack (symbolization names them; reports can fold them).
    constexpr unsigned kStackSkip = 1;

    const CUpti_CallbackId kRuntime[] = { CUPTI_RUNTIME_TRACE_CBID_cudaMalloc_v3020,
        CUPTI_RUNTIME_TRACE_CBID_cudaMallocPitch_v3020, CUPTI_RUNTIME_TRACE_CBID_cudaMalloc3D_v3020,
        CUPTI_RUNTIME_TRACE_CBID_cudaMallocAsync_v11020, CUPTI_RUNTIME_TRACE_CBID_cudaMallocAsync_ptsz_v11020,
        CUPTI_RUNTIME_TRACE_CBID_cudaMallocFromPoolAsync_v11020,
        CUPTI_RUNTIME_TRACE_CBID_cudaMallocFromPoolAsync_ptsz_v11020, CUPTI_RUNTIME_TRACE_CBID_cudaMallocManaged_v6000,
        CUPTI_RUNTIME_TRACE_CBID_cudaMallocHost_v3020, CUPTI_RUNTIME_TRACE_CBID_cudaHostAlloc_v3020,
        CUPTI_RUNTIME_TRACE_CBID_cudaFree_v3020, CUPTI_RUNTIME_TRACE_CBID_cudaFreeAsync_v11020,
        CUPTI_RUNTIME_TRACE_CBID_cudaFreeAsync_ptsz_v11020, CUPTI_RUNTIME_TRACE_CBID_cudaFreeHost_v3020,
        CUPTI_RUNTIME_TRACE_CBID_cudaDeviceReset_v3020 };

    const CUpti_CallbackId kDriver[] = { CUPTI_DRIVER_TRACE_CBID_cuMemAlloc_v2,
        CUPTI_DRIVER_TRACE_CBID_cuMemAllocPitch_v2, CUPTI_DRIVER_TRACE_CBID_cuMemAllocAsync,
        CUPTI_DRIVER_TRACE_CBID_cuMemAllocAsync_ptsz, CUPTI_DRIVER_TRACE_CBID_cuMemAllocFromPoolAsync,
        CUPTI_DRIVER_TRACE_CBID_cuMemAllocFromPoolAsync_ptsz, CUPTI_DRIVER_TRACE_CBID_cuMemAllocManaged,
        CUPTI_DRIVER_TRACE_CBID_cuMemAllocHost_v2, CUPTI_DRIVER_TRACE_CBID_cuMemHostAlloc,
        CUPTI_DRIVER_TRACE_CBID_cuMemFree_v2, CUPTI_DRIVER_TRACE_CBID_cuMemFreeAsync,
        CUPTI_DRIVER_TRACE_CBID_cuMemFreeAsync_ptsz, CUPTI_DRIVER_TRACE_CBID_cuMemFreeHost,
        CUPTI_DRIVER_TRACE_CBID_cuMemCreate, CUPTI_DRIVER_TRACE_CBID_cuMemRelease, CUPTI_DRIVER_TRACE_CBID_cuMemMap,
        CUPTI_DRIVER_TRACE_CBID_cuMemUnmap, CUPTI_DRIVER_TRACE_CBID_cuMemPoolCreate,
        CUPTI_DRIVER_TRACE_CBID_cuMemPoolDestroy, CUPTI_DRIVER_TRACE_CBID_cuMemPoolTrimTo,
        CUPTI_DRIVER_TRACE_CBID_cuCtxDestroy_v2 };

    constexpr size_t kRuntimeCount = sizeof(kRuntime) / sizeof(kRuntime[0]);
    constexpr size_t kDriverCount = sizeof(kDriver) / sizeof(kDriver[0]);
    constexpr size_t kHandled = kRuntimeCount + kDriverCount;

    std::atomic<uint64_t> g_counts[kHandled];
    std::atomic<uint64_t> g_failures[kHandled];
    std::atomic<const char*> g_names[kHandled]; // CUPTI's function names are global constants
    std::atomic<uint64_t> g_nestedSkipped { 0 };

    // Runtime memory calls open on this thread: driver callbacks inside them are the same allocation.
    __attribute__((tls_model("initial-exec"))) thread_local unsigned t_runtimeDepth;

    // Space and device of each live allocation seen here, so its free is filed in the same space.
    // Allocation-API rates are low (caching allocators sit above them), so a mutex is affordable.
    std::mutex g_liveMutex;
    std::unordered_map<uint64_t, uint16_t>& live()
    {
        static auto* map = new std::unordered_map<uint64_t, uint16_t>; // never destroyed: used at exit
        return *map;
    }

    uint32_t defaultDeviceOf(CUcontext context)
    {
        uint32_t device = 0;
        if (!context || cuptiGetDeviceId(context, &device) != CUPTI_SUCCESS)
            return 0;
        return device;
    }
    std::atomic<DeviceOfContext> g_deviceOf { &defaultDeviceOf };

    int indexOf(CUpti_CallbackDomain domain, CUpti_CallbackId cbid) noexcept
    {
        bool runtime = domain == CUPTI_CB_DOMAIN_RUNTIME_API;
        const CUpti_CallbackId* ids = runtime ? kRuntime : kDriver;
        size_t n = runtime ? kRuntimeCount : kDriverCount;
        for (size_t i = 0; i < n; ++i)
            if (ids[i] == cbid)
                return static_cast<int>(runtime ? i : kRuntimeCount + i);
        return -1;
    }

    uint8_t deviceFor(const ApiCall& c, const CUpti_CallbackData& cb) noexcept
    {
        if (c.space != SpaceKind::Device)
            return 0; // pinned and managed memory belong to no single device
        uint32_t device = c.device >= 0 ? static_cast<uint32_t>(c.device) : g_deviceOf.load()(cb.context);
        return device < 256 ? static_cast<uint8_t>(device) : 255;
    }

    void recordAlloc(const ApiCall& c, uint8_t device) noexcept
    {
        emitDeviceAlloc(
            { c.api, c.space, device, c.stream, kSourceCuptiCallback }, c.address, c.size, captureStack(kStackSkip));
        std::lock_guard<std::mutex> lock(g_liveMutex);
        live()[c.address] = static_cast<uint16_t>(static_cast<unsigned>(c.space) << 8 | device);
    }

    // No CUDA call from inside a CUPTI callback: free/total stay unknown here (the LD_PRELOAD hook
    // records them when the runtime is linked dynamically).
    void recordFailure(const ApiCall& c, uint8_t device, int32_t error) noexcept
    {
        emitDeviceFailure(
            { c.api, c.space, device, c.stream, kSourceCuptiCallback }, c.size, captureStack(kStackSkip), error);
    }

    void recordFree(ApiCall c, uint8_t device) noexcept
    {
        {
            std::lock_guard<std::mutex> lock(g_liveMutex);
            auto it = live().find(c.address);
            if (it != live().end()) { // cudaFree also releases managed memory: keep the allocation's space
                c.space = static_cast<SpaceKind>(it->second >> 8);
                device = static_cast<uint8_t>(it->second & 0xFF);
                live().erase(it);
            }
        }
        emitDeviceFree({ c.api, c.space, device, c.stream, kSourceCuptiCallback }, c.address);
    }

    void onApiExit(CUpti_CallbackDomain domain, CUpti_CallbackId cbid, const CUpti_CallbackData& cb, int index) noexcept
    {
        ApiCall c;
        bool decoded = domain == CUPTI_CB_DOMAIN_RUNTIME_API ? decodeRuntime(cbid, cb, c) : decodeDriver(cbid, cb, c);
        int32_t result = cb.functionReturnValue ? *static_cast<const int32_t*>(cb.functionReturnValue) : 0;
        g_counts[index].fetch_add(1, std::memory_order_relaxed);
        if (result != 0)
            g_failures[index].fetch_add(1, std::memory_order_relaxed);
        if (!decoded)
            return; // counted only: pools, mappings, context teardown
        uint8_t device = deviceFor(c, cb);
        if (c.op == ApiCall::Op::Alloc) {
            if (result == 0)
                recordAlloc(c, device);
            else
                recordFailure(c, device, result);
        } else if (c.op == ApiCall::Op::Free && result == 0 && c.address != 0) {
            recordFree(c, device);
        }
    }

    void onApi(CUpti_CallbackDomain domain, CUpti_CallbackId cbid, const CUpti_CallbackData& cb) noexcept
    {
        int index = indexOf(domain, cbid);
        if (index < 0)
            return;
        const char* none = nullptr;
        g_names[index].compare_exchange_strong(none, cb.functionName);
        bool enter = cb.callbackSite == CUPTI_API_ENTER;
        if (domain == CUPTI_CB_DOMAIN_RUNTIME_API) {
            if (cbid == CUPTI_RUNTIME_TRACE_CBID_cudaDeviceReset_v3020) {
                if (enter) // the context and its undelivered records are about to go
                    cuptiActivityFlushAll(0);
                return;
            }
            if (enter) {
                ++t_runtimeDepth;
                return;
            }
            if (t_runtimeDepth > 0)
                --t_runtimeDepth;
        } else {
            if (enter) {
                if (cbid == CUPTI_DRIVER_TRACE_CBID_cuCtxDestroy_v2)
                    cuptiActivityFlushAll(0);
                return;
            }
            if (t_runtimeDepth > 0) { // inside cudaMalloc & co: already recorded at the runtime level
                g_nestedSkipped.fetch_add(1, std::memory_order_relaxed);
                return;
            }
        }
        onApiExit(domain, cbid, cb, index);
    }

} // namespace

void CUPTIAPI onCallback(void*, CUpti_CallbackDomain domain, CUpti_CallbackId cbid, const void* data)
{
    if (!data)
        return;
    ReentryGuard guard; // CUPTI, the unwinder and our map may allocate: not the app's allocations
    if (domain == CUPTI_CB_DOMAIN_RUNTIME_API || domain == CUPTI_CB_DOMAIN_DRIVER_API) {
        onApi(domain, cbid, *static_cast<const CUpti_CallbackData*>(data));
    } else if (domain == CUPTI_CB_DOMAIN_RESOURCE && cbid == CUPTI_CBID_RESOURCE_CONTEXT_DESTROY_STARTING) {
        cuptiActivityFlushAll(0);
    } else if (domain == CUPTI_CB_DOMAIN_STATE && cbid == CUPTI_CBID_STATE_FATAL_ERROR) {
        emitStat(wire::StatSource::Cupti, "cupti.fatal_error", 1,
            "CUPTI hit a fatal error and finalized itself: GPU records after this point are missing");
    }
}

CallbackIds handledCallbacks() noexcept
{
    return { kRuntime, kRuntimeCount, kDriver, kDriverCount };
}

void setDeviceLookup(DeviceOfContext lookup) noexcept
{
    g_deviceOf.store(lookup ? lookup : &defaultDeviceOf);
}

void reportCallbackCounts() noexcept
{
    char name[160];
    for (size_t i = 0; i < kHandled; ++i) {
        uint64_t calls = g_counts[i].load(std::memory_order_relaxed);
        const char* fn = g_names[i].load();
        if (!calls || !fn)
            continue;
        snprintf(name, sizeof(name), "cupti.callback.%s", fn);
        emitStat(wire::StatSource::Cupti, name, calls, "API calls seen by the CUPTI callback");
        if (uint64_t failed = g_failures[i].load(std::memory_order_relaxed)) {
            snprintf(name, sizeof(name), "cupti.failed.%s", fn);
            emitStat(wire::StatSource::Cupti, name, failed, "calls that returned an error");
        }
    }
    if (uint64_t nested = g_nestedSkipped.load())
        emitStat(wire::StatSource::Cupti, "cupti.driver_nested_in_runtime", nested,
            "driver memory calls made inside a runtime memory call (recorded once, at the runtime level)");
}

} // namespace tidemark::interposer::cupti
