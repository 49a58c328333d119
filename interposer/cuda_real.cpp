// Finds the real CUDA runtime behind tidemark's hooks with dlsym(RTLD_NEXT): the next definition in
// lookup order after libtidemark.so, i.e. the libcudart.so the application linked. Resolution runs
// once, lazily, on the first hooked call (never in a constructor: cudart may not be loaded yet).
#include "interposer/cuda_hooks.h"
#include "interposer/emit.h"

#include <atomic>
#include <dlfcn.h>
#include <mutex>

namespace tidemark::interposer::cuda {

namespace {

    RealRuntime g_real {};
    std::atomic<bool> g_resolved { false };
    std::mutex g_resolveMutex;

    template <typename Fn> void resolve(Fn& slot, const char* name) noexcept
    {
        slot = reinterpret_cast<Fn>(dlsym(RTLD_NEXT, name));
    }

    void resolveAll() noexcept
    {
        RealRuntime& r = g_real;
        resolve(r.malloc, "cudaMalloc");
        resolve(r.free, "cudaFree");
        resolve(r.mallocAsync, "cudaMallocAsync");
        resolve(r.mallocAsyncPtsz, "cudaMallocAsync_ptsz");
        resolve(r.mallocFromPoolAsync, "cudaMallocFromPoolAsync");
        resolve(r.mallocFromPoolAsyncPtsz, "cudaMallocFromPoolAsync_ptsz");
        resolve(r.freeAsync, "cudaFreeAsync");
        resolve(r.freeAsyncPtsz, "cudaFreeAsync_ptsz");
        resolve(r.mallocManaged, "cudaMallocManaged");
        resolve(r.mallocHost, "cudaMallocHost");
        resolve(r.hostAlloc, "cudaHostAlloc");
        resolve(r.freeHost, "cudaFreeHost");
        resolve(r.mallocPitch, "cudaMallocPitch");
        resolve(r.malloc3D, "cudaMalloc3D");
        resolve(r.getDevice, "cudaGetDevice");
        resolve(r.streamGetDevice, "cudaStreamGetDevice");
        resolve(r.pointerGetAttributes, "cudaPointerGetAttributes");
        resolve(r.memGetInfo, "cudaMemGetInfo");
        if (!r.malloc)
            log(LogLevel::Warn, "CUDA runtime hook called but no libcudart found after libtidemark.so");
    }

} // namespace

const RealRuntime& real() noexcept
{
    if (!g_resolved.load(std::memory_order_acquire)) {
        std::lock_guard<std::mutex> lock(g_resolveMutex);
        if (!g_resolved.load(std::memory_order_relaxed)) {
            resolveAll();
            g_resolved.store(true, std::memory_order_release);
        }
    }
    return g_real;
}

} // namespace tidemark::interposer::cuda
