// Coverage of the CUDA runtime hooks: which cudart memory APIs reached tidemark and how often, so a
// report can say what was intercepted and, for a CUDA process whose allocations never reached the
// hooks (static cudart, driver API), that LD_PRELOAD saw nothing and CUPTI is the only witness.
#include "interposer/cuda_hooks.h"
#include "interposer/emit.h"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <pthread.h>
#include <string_view>
#include <unistd.h>

namespace tidemark::interposer::cuda {

namespace {

    constexpr uint16_t kFirstApi = static_cast<uint16_t>(Api::CudaMalloc);
    constexpr uint16_t kLastApi = static_cast<uint16_t>(Api::CudaFreeHost);
    constexpr unsigned kApiCount = kLastApi - kFirstApi + 1;

    std::atomic<uint64_t> g_calls[kApiCount];
    std::atomic<uint64_t> g_failures[kApiCount];
    std::atomic<bool> g_exitRegistered { false };
    std::atomic<pid_t> g_ownerPid { 0 };

    // Same names as tidemark::apiName (trace/enums.cpp), which the interposer cannot link: it only
    // uses the header-only part of trace/.
    constexpr const char* kApiNames[kApiCount]
        = { "cudaMalloc", "cudaMallocAsync", "cudaMallocFromPoolAsync", "cudaMallocManaged", "cudaMallocHost",
              "cudaHostAlloc", "cudaMallocPitch", "cudaMalloc3D", "cudaFree", "cudaFreeAsync", "cudaFreeHost" };
    static_assert(kApiCount == 11, "update kApiNames with the CUDA runtime entries of tidemark::Api");

    // prefix + API name, into buf.
    const char* statName(Api api, const char* prefix, char* buf, size_t cap) noexcept
    {
        std::string_view name = kApiNames[static_cast<uint16_t>(api) - kFirstApi];
        size_t p = strnlen(prefix, cap - 1);
        std::memcpy(buf, prefix, p);
        size_t n = name.size() < cap - p - 1 ? name.size() : cap - p - 1;
        std::memcpy(buf + p, name.data(), n);
        buf[p + n] = '\0';
        return buf;
    }

    void exitReport()
    {
        if (getpid() != g_ownerPid.load())
            return; // an inherited handler in a forked child: counts belong to the parent
        uint64_t total = 0;
        char name[64];
        for (unsigned i = 0; i < kApiCount; ++i) {
            uint64_t calls = g_calls[i].load(std::memory_order_relaxed);
            uint64_t failures = g_failures[i].load(std::memory_order_relaxed);
            Api api = static_cast<Api>(kFirstApi + i);
            total += calls;
            if (calls)
                emitStat(wire::StatSource::Cuda, statName(api, "cuda.hook.", name, sizeof(name)), calls, "calls");
            if (failures)
                emitStat(wire::StatSource::Cuda, statName(api, "cuda.failed.", name, sizeof(name)), failures,
                    "calls that returned an error");
        }
        if (total)
            emitStat(wire::StatSource::Cuda, "cuda.hooks", total,
                "LD_PRELOAD hooks of the CUDA runtime active: the target links libcudart dynamically");
        else
            emitStat(wire::StatSource::Cuda, "cuda.hooks", 0,
                "no CUDA runtime memory call reached the LD_PRELOAD hooks: cudart is linked statically or "
                "memory is allocated through the driver API; only CUPTI callbacks can see these");
    }

    // A followed fork child writes its own spool: it starts counting from zero and reports its own
    // calls with the inherited exit handler.
    void onForkChild()
    {
        for (unsigned i = 0; i < kApiCount; ++i) {
            g_calls[i].store(0, std::memory_order_relaxed);
            g_failures[i].store(0, std::memory_order_relaxed);
        }
        g_ownerPid.store(getpid());
    }

} // namespace

void registerExitReport() noexcept
{
    if (g_exitRegistered.exchange(true))
        return;
    g_ownerPid.store(getpid());
    pthread_atfork(nullptr, nullptr, &onForkChild);
    // Registered after the writer started (first hooked call or cuInit), so it runs before the
    // writer's own exit handler while the spool is still open.
    std::atexit(&exitReport);
}

void countCall(Api api, bool failed) noexcept
{
    uint16_t v = static_cast<uint16_t>(api);
    if (v < kFirstApi || v > kLastApi)
        return;
    unsigned i = v - kFirstApi;
    if (g_calls[i].fetch_add(1, std::memory_order_relaxed) == 0) {
        registerExitReport();
        char name[64];
        emitStat(wire::StatSource::Cuda, statName(api, "cuda.hook.", name, sizeof(name)), 1, "seen");
    }
    if (failed)
        g_failures[i].fetch_add(1, std::memory_order_relaxed);
}

uint64_t totalCalls() noexcept
{
    uint64_t total = 0;
    for (auto& c : g_calls)
        total += c.load(std::memory_order_relaxed);
    return total;
}

} // namespace tidemark::interposer::cuda
