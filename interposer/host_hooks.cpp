// The malloc-family hooks (LD_PRELOAD): one HostAlloc/HostFree record per user call. The TLS guard
// is held across the real call so a function that calls another through the PLT (glibc 2.36
// reallocarray tail-calls realloc@plt, libstdc++ operator new calls malloc@plt) counts once. While
// dlsym resolves the real functions, allocations come from a static bump pool that free ignores.
#include "interposer/runtime.h"
#include "trace/enums.h"

#include <cerrno>
#include <cstring>
#include <dlfcn.h>
#include <malloc.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace tidemark::interposer {

namespace {

struct RealFunctions {
    void* (*malloc)(size_t);
    void (*free)(void*);
    void* (*calloc)(size_t, size_t);
    void* (*realloc)(void*, size_t);
    int (*posix_memalign)(void**, size_t, size_t);
    void* (*aligned_alloc)(size_t, size_t);
    void* (*memalign)(size_t, size_t);
    void* (*valloc)(size_t);
    void* (*pvalloc)(size_t);
    void* (*reallocarray)(void*, size_t, size_t);
};
RealFunctions g_real {};
std::atomic<int> g_resolveState { 0 }; // 0 not started, 1 resolving, 2 done

// Bootstrap pool for allocations made by dlsym itself. Each block has a 16-byte size prefix so
// realloc can move it out to the real heap.
alignas(16) char g_pool[64 * 1024];
std::atomic<size_t> g_poolUsed { 0 };

bool inPool(const void* p) noexcept { return p >= g_pool && p < g_pool + sizeof(g_pool); }

void* poolAlloc(size_t n, size_t align) noexcept
{
    if (align < 16)
        align = 16;
    size_t need = (n + 16 + align - 1) & ~(align - 1);
    size_t off = g_poolUsed.fetch_add(need + align);
    if (off + need + align > sizeof(g_pool))
        return nullptr;
    uintptr_t base = reinterpret_cast<uintptr_t>(g_pool + off + 16);
    base = (base + align - 1) & ~(uintptr_t(align) - 1);
    reinterpret_cast<size_t*>(base)[-1] = n;
    std::memset(reinterpret_cast<void*>(base), 0, n);
    g_counters.bootstrapAllocs.fetch_add(1, std::memory_order_relaxed);
    return reinterpret_cast<void*>(base);
}

template <typename F> void resolveOne(F& slot, const char* name) noexcept
{
    slot = reinterpret_cast<F>(dlsym(RTLD_NEXT, name));
}

// Returns true once the real functions are known; false while dlsym runs (the caller then uses
// the bootstrap pool).
bool resolve() noexcept
{
    int state = g_resolveState.load(std::memory_order_acquire);
    if (state == 2)
        return true;
    int expected = 0;
    if (!g_resolveState.compare_exchange_strong(expected, 1))
        return g_resolveState.load(std::memory_order_acquire) == 2;
    RealFunctions r {};
    resolveOne(r.malloc, "malloc");
    resolveOne(r.free, "free");
    resolveOne(r.calloc, "calloc");
    resolveOne(r.realloc, "realloc");
    resolveOne(r.posix_memalign, "posix_memalign");
    resolveOne(r.aligned_alloc, "aligned_alloc");
    resolveOne(r.memalign, "memalign");
    resolveOne(r.valloc, "valloc");
    resolveOne(r.pvalloc, "pvalloc");
    resolveOne(r.reallocarray, "reallocarray");
    g_real = r;
    g_resolveState.store(2, std::memory_order_release);
    return true;
}

// The ThreadSanitizer build (interposer/CMakeLists.txt): TSan mallocs while it starts the process and
// each thread, before its runtime can run instrumented code. These hooks are built without TSan
// there; capture starts from the constructor, not at the first hooked call; and a thread records
// once its start routine runs (pthread_create below), after TSan's own thread start.
#ifndef TIDEMARK_TSAN_BUILD
#define TIDEMARK_TSAN_BUILD 0
#endif
#if TIDEMARK_TSAN_BUILD
thread_local bool t_tsanThreadStarted = false;
#endif

inline bool shouldRecord() noexcept
{
#if TIDEMARK_TSAN_BUILD
    if (!t_tsanThreadStarted) {
        if (::getpid() != pid_t(::syscall(SYS_gettid)))
            return false;
        t_tsanThreadStarted = true; // the main thread: TSan started before any constructor
    }
#endif
    if (TIDEMARK_LIKELY(g_hostActive.load(std::memory_order_relaxed)))
        return t_tls.inside == 0;
    // Not started yet: the first hooked call starts capture (see earlyStart).
    if (!TIDEMARK_TSAN_BUILD && TIDEMARK_UNLIKELY(g_startState.load(std::memory_order_relaxed) == 0)
        && t_tls.inside == 0) {
        earlyStart();
        return g_hostActive.load(std::memory_order_relaxed);
    }
    return false;
}

// Called with the guard held, after the real allocation succeeded; `frame` is the hook's frame
// pointer, where the stack walk starts (no walking through our own frames first).
inline void recordAlloc(Api api, void* p, size_t size, const void* frame) noexcept
{
    ThreadState* t = currentThread();
    if (TIDEMARK_UNLIKELY(!t))
        return;
    uint32_t stack = captureStackFor(t, frame, 0);
    uint64_t ts = eventNowNs(t);
    static_assert(sizeof(wire::HostAllocRecord) == 40);
    if (uint64_t* w = ringReserve(t, sizeof(wire::HostAllocRecord))) {
        w[0] = headerWord(wire::Kind::HostAlloc, sizeof(wire::HostAllocRecord), uint16_t(api));
        w[1] = ts;
        w[2] = reinterpret_cast<uint64_t>(p);
        w[3] = size;
        w[4] = uint64_t(stack) | uint64_t(eventRangeId()) << 32;
        ringCommit(t, sizeof(wire::HostAllocRecord));
        return;
    }
    wire::HostAllocRecord r {};
    r.h.kind = uint16_t(wire::Kind::HostAlloc);
    r.h.size_bytes = sizeof(r);
    r.api = uint16_t(api);
    r.ts_ns = ts;
    r.address = reinterpret_cast<uint64_t>(p);
    r.size = size;
    r.stack_id = stack;
    r.range_id = eventRangeId();
    ringPut(t, &r, sizeof(r));
}

// ts is taken before the real free, so it precedes any reuse of the address by another thread
// (and the record is counted before the real free too: see eventNowNs).
inline void recordFree(ThreadState* t, Api api, void* p, uint64_t ts) noexcept
{
    static_assert(sizeof(wire::HostFreeRecord) == 24);
    if (uint64_t* w = ringReserve(t, sizeof(wire::HostFreeRecord))) {
        w[0] = headerWord(wire::Kind::HostFree, sizeof(wire::HostFreeRecord), uint16_t(api));
        w[1] = ts;
        w[2] = reinterpret_cast<uint64_t>(p);
        ringCommit(t, sizeof(wire::HostFreeRecord));
        return;
    }
    wire::HostFreeRecord r {};
    r.h.kind = uint16_t(wire::Kind::HostFree);
    r.h.size_bytes = sizeof(r);
    r.api = uint16_t(api);
    r.ts_ns = ts;
    r.address = reinterpret_cast<uint64_t>(p);
    ringPut(t, &r, sizeof(r));
}

struct HookScope {
    HookScope() noexcept { t_tls.inside = 1; }
    ~HookScope() { t_tls.inside = 0; }
};

} // namespace

bool hostHooksResolve() noexcept
{
    if (!resolve() || !g_real.malloc || !g_real.free)
        return false;
    // The next definition may be a second copy of the capture (preloaded while the program carries
    // one): let it resolve its own functions now, at a safe point. Left for later, its first call
    // could be a free() that libdl makes while it clears an error string, and its dlsym there freed
    // that string a second time (AddressSanitizer: double free).
    g_real.free(g_real.malloc(1));
    return true;
}

void emitHookCoverage() noexcept
{
    struct Item {
        const char* name;
        const void* fn;
    };
    const Item items[] = { { "hook.malloc", (const void*)g_real.malloc }, { "hook.free", (const void*)g_real.free },
        { "hook.calloc", (const void*)g_real.calloc }, { "hook.realloc", (const void*)g_real.realloc },
        { "hook.posix_memalign", (const void*)g_real.posix_memalign },
        { "hook.aligned_alloc", (const void*)g_real.aligned_alloc },
        { "hook.memalign", (const void*)g_real.memalign }, { "hook.valloc", (const void*)g_real.valloc },
        { "hook.pvalloc", (const void*)g_real.pvalloc }, { "hook.reallocarray", (const void*)g_real.reallocarray } };
    bool host = g_config.host;
    for (const Item& it : items) {
        const char* detail = !it.fn ? "not found in the process (calls pass through unseen)"
            : host                  ? "LD_PRELOAD interposer active"
                                    : "disabled by TIDEMARK_HOST=0";
        emitStat(wire::StatSource::Preload, it.name, it.fn && host ? 1 : 0, detail);
    }
}

} // namespace tidemark::interposer

using namespace tidemark;
using namespace tidemark::interposer;

extern "C" {

TIDEMARK_EXPORT void* malloc(size_t n)
{
    if (TIDEMARK_UNLIKELY(!g_real.malloc) && !(resolve() && g_real.malloc))
        return poolAlloc(n, 16);
    if (TIDEMARK_LIKELY(!shouldRecord()))
        return g_real.malloc(n);
    HookScope scope;
    void* p = g_real.malloc(n);
    if (p)
        recordAlloc(Api::Malloc, p, n, __builtin_frame_address(0));
    return p;
}

TIDEMARK_EXPORT void free(void* p)
{
    if (TIDEMARK_UNLIKELY(!p || inPool(p)))
        return;
    if (TIDEMARK_UNLIKELY(!g_real.free) && !(resolve() && g_real.free))
        return; // cannot happen for a pointer that did not come from the pool
    if (TIDEMARK_LIKELY(!shouldRecord()))
        return g_real.free(p);
    {
        HookScope scope;
        if (ThreadState* t = currentThread())
            recordFree(t, Api::Free, p, eventNowNs(t));
    }
    // A tail call, outside the guard: the real free calls no hooked function, and the hook then
    // keeps no state across it.
    g_real.free(p);
}

TIDEMARK_EXPORT void* calloc(size_t count, size_t size)
{
    if (TIDEMARK_UNLIKELY(!g_real.calloc) && !(resolve() && g_real.calloc)) {
        size_t total;
        return __builtin_mul_overflow(count, size, &total) ? nullptr : poolAlloc(total, 16);
    }
    if (TIDEMARK_LIKELY(!shouldRecord()))
        return g_real.calloc(count, size);
    HookScope scope;
    void* p = g_real.calloc(count, size);
    if (p)
        recordAlloc(Api::Calloc, p, count * size, __builtin_frame_address(0));
    return p;
}

// realloc = free(old) + alloc(new), both with api Realloc; realloc(NULL, n) is an allocation only,
// realloc(p, 0) frees p (glibc returns NULL), and a failed realloc leaves the old block live.
static void* reallocImpl(Api api, void* old, size_t n, bool viaArray, size_t count, size_t size)
{
    if (TIDEMARK_UNLIKELY(inPool(old))) {
        size_t oldSize = reinterpret_cast<size_t*>(old)[-1];
        void* p = malloc(n);
        if (p)
            std::memcpy(p, old, oldSize < n ? oldSize : n);
        return p;
    }
    if (!shouldRecord())
        return viaArray ? g_real.reallocarray(old, count, size) : g_real.realloc(old, n);
    HookScope scope;
    ThreadState* t = currentThread();
    uint64_t freeTs = old && t ? eventNowNs(t) : 0;
    if (old && t)
        noteActivity(t); // the old block may reach another thread before its record is written
    void* p = viaArray ? g_real.reallocarray(old, count, size) : g_real.realloc(old, n);
    if (p) {
        if (old)
            recordFree(t, api, old, freeTs);
        recordAlloc(api, p, n, __builtin_frame_address(0));
    } else if (old && n == 0) {
        recordFree(t, api, old, freeTs);
    }
    return p;
}

TIDEMARK_EXPORT void* realloc(void* old, size_t n)
{
    if (TIDEMARK_UNLIKELY(!g_real.realloc) && !(resolve() && g_real.realloc)) {
        void* p = poolAlloc(n, 16);
        if (p && old && inPool(old))
            std::memcpy(p, old, reinterpret_cast<size_t*>(old)[-1] < n ? reinterpret_cast<size_t*>(old)[-1] : n);
        return p;
    }
    return reallocImpl(Api::Realloc, old, n, false, 0, 0);
}

TIDEMARK_EXPORT void* reallocarray(void* old, size_t count, size_t size)
{
    size_t total;
    if (__builtin_mul_overflow(count, size, &total)) {
        errno = ENOMEM;
        return nullptr;
    }
    if (TIDEMARK_UNLIKELY(!g_real.reallocarray) && !(resolve() && g_real.reallocarray))
        return realloc(old, total);
    return reallocImpl(Api::Reallocarray, old, total, true, count, size);
}

TIDEMARK_EXPORT int posix_memalign(void** out, size_t align, size_t n)
{
    if (TIDEMARK_UNLIKELY(!g_real.posix_memalign) && !(resolve() && g_real.posix_memalign)) {
        *out = poolAlloc(n, align);
        return *out ? 0 : ENOMEM;
    }
    if (!shouldRecord())
        return g_real.posix_memalign(out, align, n);
    HookScope scope;
    int rc = g_real.posix_memalign(out, align, n);
    if (rc == 0 && *out)
        recordAlloc(Api::PosixMemalign, *out, n, __builtin_frame_address(0));
    return rc;
}

// The four functions below share one shape: call the real one, record a non-NULL result.
#define TIDEMARK_ALIGNED_HOOK(NAME, API, PARAMS, ARGS, POOLARGS)                                                \
    TIDEMARK_EXPORT void* NAME PARAMS                                                                        \
    {                                                                                                        \
        if (TIDEMARK_UNLIKELY(!g_real.NAME) && !(resolve() && g_real.NAME))                                  \
            return poolAlloc POOLARGS;                                                                       \
        if (!shouldRecord())                                                                                 \
            return g_real.NAME ARGS;                                                                         \
        HookScope scope;                                                                                     \
        void* p = g_real.NAME ARGS;                                                                          \
        if (p)                                                                                               \
            recordAlloc(API, p, n, __builtin_frame_address(0));                                              \
        return p;                                                                                            \
    }

TIDEMARK_ALIGNED_HOOK(aligned_alloc, Api::AlignedAlloc, (size_t align, size_t n), (align, n), (n, align))
TIDEMARK_ALIGNED_HOOK(memalign, Api::Memalign, (size_t align, size_t n), (align, n), (n, align))
TIDEMARK_ALIGNED_HOOK(valloc, Api::Valloc, (size_t n), (n), (n, 4096))
TIDEMARK_ALIGNED_HOOK(pvalloc, Api::Pvalloc, (size_t n), (n), (n, 4096))

#if TIDEMARK_TSAN_BUILD
namespace {
struct ThreadStart {
    void* (*routine)(void*);
    void* arg;
};

void* startedThread(void* p)
{
    ThreadStart start = *static_cast<ThreadStart*>(p);
    g_real.free(p);
    t_tsanThreadStarted = true;
    return start.routine(start.arg);
}
} // namespace

TIDEMARK_EXPORT int pthread_create(pthread_t* thread, const pthread_attr_t* attr, void* (*routine)(void*), void* arg)
{
    using Fn = int (*)(pthread_t*, const pthread_attr_t*, void* (*)(void*), void*);
    static Fn real = reinterpret_cast<Fn>(dlsym(RTLD_NEXT, "pthread_create"));
    if (!real || (!g_real.malloc && !(resolve() && g_real.malloc)))
        return EAGAIN;
    auto* start = static_cast<ThreadStart*>(g_real.malloc(sizeof(ThreadStart)));
    if (!start)
        return EAGAIN;
    *start = { routine, arg };
    int rc = real(thread, attr, startedThread, start);
    if (rc != 0)
        g_real.free(start);
    return rc;
}
#endif

} // extern "C"
