// Finds the real CUDA runtime behind tidemark's hooks with dlsym(RTLD_NEXT): the next definition in
// lookup order after libtidemark.so, i.e. the libcudart.so the application linked. A runtime that
// is only in a dlopen(RTLD_LOCAL) group (Python loading libtorch_cuda.so, which needs libcudart) is
// not in that order; then the loaded object that defines it is found and asked directly. Resolution runs
// once, lazily, on the first hooked call (never in a constructor: cudart may not be loaded yet).
#include "interposer/cuda_hooks.h"
#include "interposer/emit.h"

#include <atomic>
#include <cstring>
#include <dlfcn.h>
#include <link.h>
#include <mutex>

namespace tidemark::interposer::cuda {

namespace {

    RealRuntime g_real {};
    std::atomic<bool> g_resolved { false };
    std::mutex g_resolveMutex;

    void* g_handle = RTLD_NEXT; // or the handle of a libcudart found by name

    template <typename Fn> void resolve(Fn& slot, const char* name) noexcept
    {
        slot = reinterpret_cast<Fn>(dlsym(g_handle, name));
    }

    constexpr int kMaxObjects = 256;
    struct Loaded {
        const char* names[kMaxObjects];
        int count;
    };

    // Names of the loaded objects (dl_iterate_phdr also sees those in dlopen(RTLD_LOCAL) groups);
    // the strings live as long as their objects. dlopen is not called from inside the iteration.
    int collectObject(dl_phdr_info* info, size_t, void* out)
    {
        auto* loaded = static_cast<Loaded*>(out);
        if (info->dlpi_name && info->dlpi_name[0] && loaded->count < kMaxObjects)
            loaded->names[loaded->count++] = info->dlpi_name;
        return 0;
    }

    bool isCudartName(const char* path) noexcept
    {
        const char* base = std::strrchr(path, '/');
        base = base ? base + 1 : path;
        return std::strncmp(base, "libcudart", 9) == 0;
    }

    // A handle whose lookup finds a cudaMalloc that is not ours: a libcudart by name first, else any
    // loaded object whose dependencies define one. A lookup on a handle searches that object and its
    // dependencies only, never the LD_PRELOADed libtidemark.so.
    void* loadedCudartHandle() noexcept
    {
        Dl_info self {};
        dladdr(reinterpret_cast<void*>(&loadedCudartHandle), &self);
        Loaded loaded {};
        dl_iterate_phdr(&collectObject, &loaded);
        for (int pass = 0; pass < 2; ++pass) {
            for (int i = 0; i < loaded.count; ++i) {
                if ((pass == 0) != isCudartName(loaded.names[i]))
                    continue;
                void* handle = dlopen(loaded.names[i], RTLD_LAZY | RTLD_NOLOAD);
                void* fn = handle ? dlsym(handle, "cudaMalloc") : nullptr;
                Dl_info where {};
                if (fn && dladdr(fn, &where) && where.dli_fbase != self.dli_fbase)
                    return handle;
                if (handle)
                    dlclose(handle); // drops only the reference NOLOAD added
            }
        }
        return nullptr;
    }

    void resolveAll() noexcept
    {
        RealRuntime& r = g_real;
        if (!dlsym(RTLD_NEXT, "cudaMalloc")) {
            if (void* handle = loadedCudartHandle()) {
                g_handle = handle;
                log(LogLevel::Info, "CUDA runtime found outside the global lookup scope (dlopen RTLD_LOCAL)");
            }
        }
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
