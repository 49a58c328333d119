// InitializeInjection, the CUPTI entry point CUDA calls (during cuInit) when CUDA_INJECTION64_PATH
// names libtidemark.so. It never touches CUPTI itself: it loads libtidemark_cupti.so from next to
// this library (or TIDEMARK_CUPTI_LIBRARY) and hands it the writer as a function table (cupti_bridge.h).
#include "interposer/cuda_hooks.h"
#include "interposer/cupti_bridge.h"
#include "interposer/emit.h"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <mutex>
#include <new>

namespace tidemark::interposer {

namespace {

    constexpr unsigned kMaxGuards = 8;

    // ReentryGuards entered on behalf of the companion, LIFO per thread, in POD initial-exec TLS.
    struct GuardSlots {
        unsigned depth;
        alignas(ReentryGuard) unsigned char storage[kMaxGuards][sizeof(ReentryGuard)];
    };
    __attribute__((tls_model("initial-exec"))) thread_local GuardSlots t_guards;

    bool hostTracking()
    {
        return trackingEnabled();
    }
    uint64_t hostNow()
    {
        return nowNs();
    }
    void hostEmit(const void* r, size_t n)
    {
        emit(r, n);
    }
    // The writer drops leading libtidemark.so frames (this trampoline) by itself, then skip - 1 more:
    // the companion's frames the caller asked to skip.
    uint32_t hostStack(unsigned skip)
    {
        return captureStack(skip + 1);
    }
    uint32_t hostString(const char* t, size_t n)
    {
        return internString(t, n);
    }
    uint32_t hostRange()
    {
        return currentRangeId();
    }
    uint32_t hostObjectId()
    {
        return nextObjectId();
    }
    void hostStat(uint16_t source, const char* name, uint64_t value, const char* detail)
    {
        emitStat(static_cast<wire::StatSource>(source), name, value, detail);
    }
    bool hostGuardEnter()
    {
        GuardSlots& g = t_guards;
        if (g.depth >= kMaxGuards) { // deeper nesting: already inside a guard by construction
            ++g.depth;
            return true;
        }
        auto* guard = new (g.storage[g.depth++]) ReentryGuard();
        return guard->wasAlreadyInside();
    }
    void hostGuardLeave()
    {
        GuardSlots& g = t_guards;
        if (g.depth == 0)
            return;
        if (--g.depth < kMaxGuards)
            reinterpret_cast<ReentryGuard*>(g.storage[g.depth])->~ReentryGuard();
    }
    void hostLog(int level, const char* message)
    {
        log(static_cast<LogLevel>(level), message);
    }

    const TidemarkCuptiHost kHost
        = { sizeof(TidemarkCuptiHost), kTidemarkCuptiAbiVersion, &hostTracking, &hostNow, &hostEmit, &hostStack,
              &hostString, &hostRange, &hostObjectId, &hostStat, &hostGuardEnter, &hostGuardLeave, &hostLog };

    bool disabledByEnv()
    {
        const char* v = std::getenv("TIDEMARK_CUPTI");
        return v && (std::strcmp(v, "0") == 0 || std::strcmp(v, "off") == 0);
    }

    // <directory of this library>/libtidemark_cupti.so, or TIDEMARK_CUPTI_LIBRARY.
    bool companionPath(char* out, size_t cap)
    {
        if (const char* env = std::getenv("TIDEMARK_CUPTI_LIBRARY")) {
            if (std::strlen(env) + 1 > cap)
                return false;
            std::strcpy(out, env);
            return true;
        }
        Dl_info info {};
        if (!dladdr(reinterpret_cast<void*>(&hostNow), &info) || !info.dli_fname)
            return false;
        const char* slash = std::strrchr(info.dli_fname, '/');
        size_t dirLen = slash ? static_cast<size_t>(slash - info.dli_fname + 1) : 0;
        if (dirLen + std::strlen(kTidemarkCuptiLibrary) + 1 > cap)
            return false;
        std::memcpy(out, info.dli_fname, dirLen);
        std::strcpy(out + dirLen, kTidemarkCuptiLibrary);
        return true;
    }

    void reportUnavailable(const char* why, const char* detail)
    {
        char text[512];
        std::strncpy(text, why, sizeof(text) - 1);
        text[sizeof(text) - 1] = '\0';
        if (detail) {
            std::strncat(text, ": ", sizeof(text) - std::strlen(text) - 1);
            std::strncat(text, detail, sizeof(text) - std::strlen(text) - 1);
        }
        emitStat(wire::StatSource::Cupti, "cupti", 0, text);
        log(LogLevel::Warn, text);
    }

    int startCupti()
    {
        if (disabledByEnv()) {
            emitStat(wire::StatSource::Cupti, "cupti", 0, "disabled by TIDEMARK_CUPTI=0");
            return 1;
        }
        char path[4096];
        if (!companionPath(path, sizeof(path))) {
            reportUnavailable("CUPTI not used: cannot locate libtidemark_cupti.so", nullptr);
            return 1;
        }
        void* handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        if (!handle) {
            reportUnavailable("CUPTI not used: cannot load the companion library", dlerror());
            return 1;
        }
        auto start = reinterpret_cast<TidemarkCuptiStartFn>(dlsym(handle, kTidemarkCuptiStartSymbol));
        if (!start) {
            reportUnavailable("CUPTI not used: companion library has no entry point", path);
            return 1;
        }
        start(&kHost); // reports its own outcome as Stat records
        return 1; // CUDA must go on either way
    }

    std::mutex g_initMutex;
    bool g_initialized = false;

} // namespace

} // namespace tidemark::interposer

using namespace tidemark::interposer;

// Called by CUDA once per process (per loaded injection) during cuInit. Returns 1 so CUDA carries on
// whatever happened here: a profiler must never stop the program it profiles.
extern "C" __attribute__((visibility("default"))) int InitializeInjection(void)
{
    std::lock_guard<std::mutex> lock(g_initMutex);
    if (g_initialized)
        return 1;
    g_initialized = true;
    ReentryGuard guard; // dlopen and CUPTI's own setup allocate
    // A CUDA process: make the runtime hooks say at exit whether any allocation reached them.
    cuda::registerExitReport();
    return startCupti();
}
