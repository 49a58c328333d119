// Per-thread ring buffers and their registry: the producer side (emit, ringPut) that hooks call on
// every event without a lock or a syscall, and the consumer side that turns pending bytes into
// spool-file chunks (called by the drain thread, at exit, and by a producer whose ring is full).
#include "interposer/runtime.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <dlfcn.h>
#include <emmintrin.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace tidemark::interposer {

constinit thread_local Tls t_tls = { nullptr, 0, 0 };
std::atomic<ThreadState*> g_registry { nullptr };

namespace {

pthread_key_t g_key;
bool g_keyCreated = false;

uint32_t gettidNow() noexcept { return static_cast<uint32_t>(::syscall(SYS_gettid)); }

bool drainTryLock(ThreadState* t) noexcept
{
    uint32_t expected = 0;
    return t->drainLock.compare_exchange_strong(expected, 1, std::memory_order_acquire);
}

void drainUnlock(ThreadState* t) noexcept { t->drainLock.store(0, std::memory_order_release); }

// Writes [tail, head) of t's ring as one chunk (two pieces when it wraps). Caller holds drainLock.
void drainLocked(ThreadState* t) noexcept
{
    uint64_t tail = t->tail.load(std::memory_order_relaxed);
    uint64_t head = t->head.load(std::memory_order_acquire);
    if (head == tail)
        return;
    uint64_t size = t->ringMask + 1;
    uint64_t start = tail & t->ringMask;
    uint64_t bytes = head - tail;
    uint64_t first = bytes < size - start ? bytes : size - start;
    if (!writeChunk(t->tid, t->ring + start, first, t->ring, bytes - first))
        return; // tracking is off now; the producer drops from here on
    t->tail.store(head, std::memory_order_release);
}

// The key destructor runs when a thread exits: re-armed for the later destructor rounds (other
// keys' destructors may still free), then the node is marked Exited; the drain thread drains it
// and recycles it once the kernel says the thread is gone.
void onThreadExit(void* p) noexcept
{
    auto* t = static_cast<ThreadState*>(p);
    if (++t->dtorRounds < 3) {
        pthread_setspecific(g_key, t);
        return;
    }
    if (active()) {
        uint32_t saved = t_tls.inside;
        t_tls.inside = 1;
        emitThreadNameIfChanged(t, t->tid);
        t_tls.inside = saved;
    }
    t->status.store(uint32_t(SlotStatus::Exited), std::memory_order_release);
    drainThreadWake();
}

ThreadState* takeNode() noexcept
{
    for (ThreadState* t = g_registry.load(std::memory_order_acquire); t; t = t->next) {
        uint32_t expected = uint32_t(SlotStatus::Free);
        if (t->status.compare_exchange_strong(expected, uint32_t(SlotStatus::Live)))
            return t;
    }
    void* mem = rawAlloc(sizeof(ThreadState));
    uint8_t* ring = static_cast<uint8_t*>(rawAlloc(g_config.ringBytes));
    if (!mem || !ring) {
        rawFree(mem, sizeof(ThreadState));
        rawFree(ring, g_config.ringBytes);
        return nullptr;
    }
    // Default-initialised: the scratch arrays stay untouched (mmap gives zero pages) until used.
    auto* t = new (mem) ThreadState;
    t->ring = ring;
    t->ringMask = g_config.ringBytes - 1;
    t->status.store(uint32_t(SlotStatus::Live));
    ThreadState* head = g_registry.load();
    do {
        t->next = head;
    } while (!g_registry.compare_exchange_weak(head, t, std::memory_order_release));
    return t;
}

int hexDigit(char c) noexcept
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

// This thread's stack bounds (both 0 when unknown): the mapping that holds the stack pointer, found
// in /proc/self/maps with plain reads. Not pthread_getattr_np: it holds the thread's own lock while
// it allocates, so on a thread whose first allocation is made inside it (AddressSanitizer's thread
// start does that) our hook would call it again and wait on that lock for ever. The main thread's
// stack can still grow down to the stack rlimit or the mapping below, whichever is nearer.
void threadStackBounds(uintptr_t* lo, uintptr_t* hi, bool mainThread) noexcept
{
    *lo = *hi = 0;
    int probe = 0;
    const auto sp = reinterpret_cast<uintptr_t>(&probe);
    int fd = ::open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    char buf[2048];
    uintptr_t range[2] = { 0, 0 }, previousEnd = 0;
    int field = 0; // 0: start, 1: end, 2: the rest of the line
    bool found = false;
    while (!found) {
        ssize_t n = ::read(fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        for (ssize_t i = 0; i < n && !found; ++i) {
            char c = buf[i];
            if (c == '\n') {
                found = range[0] <= sp && sp < range[1];
                if (!found) {
                    previousEnd = range[1];
                    range[0] = range[1] = 0;
                    field = 0;
                }
            } else if (field < 2) {
                int digit = hexDigit(c);
                if (digit >= 0)
                    range[field] = range[field] * 16 + uintptr_t(digit);
                else
                    field = c == '-' && field == 0 ? 1 : 2;
            }
        }
    }
    ::close(fd);
    if (!found)
        return;
    *lo = range[0];
    *hi = range[1];
    if (mainThread) {
        uintptr_t floor = previousEnd;
        struct rlimit limit {};
        if (::getrlimit(RLIMIT_STACK, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < *hi)
            floor = std::max<uintptr_t>(floor, *hi - limit.rlim_cur);
        *lo = std::min(*lo, floor);
    }
}

} // namespace

ThreadState* attachThread() noexcept
{
    if (!active())
        return nullptr;
    int savedErrno = errno;
    uint32_t savedInside = t_tls.inside;
    t_tls.inside = 1; // pthread_setspecific may allocate
    ThreadState* t = takeNode();
    if (t) {
        t->tid = gettidNow();
        t->dtorRounds = 0;
        t->name[0] = '\0';
        threadStackBounds(&t->stackLo, &t->stackHi, t->tid == uint32_t(::getpid()));
        t->lastTs = 0;
        t->tsCredit = 0;
        t->tsBackoff = 0;
        t->stackCache.end = 0; // a reused node must not trust its last owner's frames or ids
        if (t->cfi)
            t->cfi->n = 0;
        std::memset(t->recentStacks, 0, sizeof(t->recentStacks));
        t_tls.state = t;
        if (g_keyCreated)
            pthread_setspecific(g_key, t);
        g_counters.threads.fetch_add(1, std::memory_order_relaxed);
        emitThreadNameIfChanged(t, t->tid);
    }
    t_tls.inside = savedInside;
    errno = savedErrno;
    return t;
}

// The clock read of eventNowNs. When it may grant credit, the other threads' counters are read
// first and the TSC read cannot pass those loads (lfence): every event another thread counted
// before the snapshot was timestamped before this reading, and one counted after it is seen by this
// thread's next check.
uint64_t eventNowNsSlow(ThreadState* t) noexcept
{
    ++t->clockReads;
    uint64_t now;
    if (t->tsBackoff) {
        // Another thread was recording a moment ago: no snapshot, so no fence needed either.
        --t->tsBackoff;
        now = fastNowNs();
    } else {
        uint64_t seen = othersEvents(t);
        uint32_t tick = g_drainTick.load(std::memory_order_relaxed);
        _mm_lfence();
        now = fastNowNs();
        if (seen != ~uint64_t(0) && tick != 0) {
            t->othersSeen = seen;
            t->tickSeen = tick;
            t->tsCredit = kTsCredit;
        }
    }
    if (now <= t->lastTs)
        now = t->lastTs + 1;
    t->lastTs = now;
    return now;
}

// Slow path of ringPut: the ring is full. Drain it ourselves (the drain thread may be gone, e.g.
// during exit), or wait for the drain thread that is writing it right now.
static bool makeRoom(ThreadState* t, uint32_t bytes) noexcept
{
    ++t->ringWaits;
    int savedErrno = errno;
    for (unsigned spins = 0; active(); ++spins) {
        if (drainTryLock(t)) {
            ++t->selfDrains;
            drainLocked(t);
            drainUnlock(t);
        } else {
            sched_yield();
        }
        t->cachedTail = t->tail.load(std::memory_order_acquire);
        if (t->ringMask + 1 - (t->head.load(std::memory_order_relaxed) - t->cachedTail) >= bytes) {
            errno = savedErrno;
            return true;
        }
    }
    errno = savedErrno;
    return false;
}

void ringPut(ThreadState* t, const void* record, uint32_t bytes) noexcept
{
    uint64_t size = t->ringMask + 1;
    uint64_t head = t->head.load(std::memory_order_relaxed);
    if (TIDEMARK_UNLIKELY(size - (head - t->cachedTail) < bytes)) {
        t->cachedTail = t->tail.load(std::memory_order_acquire);
        if (size - (head - t->cachedTail) < bytes && (bytes > size || !makeRoom(t, bytes))) {
            ++t->dropped;
            return;
        }
    }
    uint64_t pos = head & t->ringMask;
    if (TIDEMARK_LIKELY(pos + bytes <= size)) {
        std::memcpy(t->ring + pos, record, bytes);
    } else {
        uint64_t first = size - pos;
        std::memcpy(t->ring + pos, record, first);
        std::memcpy(t->ring, static_cast<const uint8_t*>(record) + first, bytes - first);
    }
    ++t->events;
    noteActivity(t);
    t->head.store(head + bytes, std::memory_order_release);
    // Past half full: make sure the drain thread is awake (one atomic exchange, rarely a futex).
    if (TIDEMARK_UNLIKELY(head + bytes - t->cachedTail > size / 2)) {
        t->cachedTail = t->tail.load(std::memory_order_acquire);
        if (head + bytes - t->cachedTail > size / 2)
            drainThreadWake();
    }
}

void emit(const void* record, size_t bytes) noexcept
{
    if (!active() || bytes < sizeof(wire::RecordHeader) || (bytes & 7u) != 0)
        return;
    ThreadState* t = currentThread();
    if (!t)
        return;
    if (bytes > 0xFFF8u) {
        ++t->dropped;
        return;
    }
    // Records of other sources carry their own clock readings: the next heap event reads the clock
    // too, so this thread's timestamps stay in order.
    t->tsCredit = 0;
    // Guard while the ring is updated: a signal handler that allocates on this thread must not
    // interleave a record with this one.
    ++t_tls.inside;
    ringPut(t, record, static_cast<uint32_t>(bytes));
    --t_tls.inside;
}

void drainPass(bool* busy) noexcept
{
    g_counters.drainPasses.fetch_add(1, std::memory_order_relaxed);
    for (ThreadState* t = g_registry.load(std::memory_order_acquire); t; t = t->next) {
        if (t->status.load(std::memory_order_acquire) == uint32_t(SlotStatus::Free))
            continue;
        uint64_t pending = t->head.load(std::memory_order_acquire) - t->tail.load(std::memory_order_relaxed);
        if (pending == 0 || !drainTryLock(t))
            continue;
        if (busy && pending > (t->ringMask + 1) / 4)
            *busy = true;
        drainLocked(t);
        drainUnlock(t);
    }
}

void drainAll(bool wait) noexcept
{
    for (ThreadState* t = g_registry.load(std::memory_order_acquire); t; t = t->next) {
        if (t->status.load(std::memory_order_acquire) == uint32_t(SlotStatus::Free))
            continue;
        bool locked = drainTryLock(t);
        for (unsigned i = 0; !locked && wait && i < 100000; ++i) {
            sched_yield();
            locked = drainTryLock(t);
        }
        if (!locked)
            continue;
        drainLocked(t);
        drainUnlock(t);
    }
}

void retireDeadThreads() noexcept
{
    for (ThreadState* t = g_registry.load(std::memory_order_acquire); t; t = t->next) {
        if (t->status.load(std::memory_order_acquire) != uint32_t(SlotStatus::Exited))
            continue;
        if (::syscall(SYS_tgkill, g_pid, t->tid, 0) == 0 || errno != ESRCH)
            continue; // still exiting
        if (!drainTryLock(t))
            continue;
        drainLocked(t);
        if (t->head.load() == t->tail.load()) {
            foldThreadCounters(t);
            t->stacks.used = 0;
            if (t->stacks.slots)
                std::memset(t->stacks.slots, 0, (size_t(t->stacks.mask) + 1) * sizeof(StackSlot));
            t->status.store(uint32_t(SlotStatus::Free), std::memory_order_release);
        }
        drainUnlock(t);
    }
}

void foldThreadCounters(ThreadState* t) noexcept
{
    auto fold = [](std::atomic<uint64_t>& global, uint64_t& local) {
        global.fetch_add(local, std::memory_order_relaxed);
        local = 0;
    };
    fold(g_counters.events, t->events);
    fold(g_counters.dropped, t->dropped);
    fold(g_counters.ringWaits, t->ringWaits);
    fold(g_counters.selfDrains, t->selfDrains);
    fold(g_counters.stackCaptures, t->stackCaptures);
    fold(g_counters.stacksNew, t->stacksNew);
    fold(g_counters.stacksTruncated, t->stacksTruncated);
    fold(g_counters.stacksEmpty, t->stacksEmpty);
    fold(g_counters.framesReused, t->framesReused);
    fold(g_counters.framesWalked, t->framesWalked);
    fold(g_counters.framesGuessed, t->framesGuessed);
    fold(g_counters.clockReads, t->clockReads);
}

// Sums every node's counters into g_counters (at exit, so later reads see the totals).
void foldAllThreadCounters() noexcept
{
    for (ThreadState* t = g_registry.load(std::memory_order_acquire); t; t = t->next)
        foldThreadCounters(t);
}

// Image end: names may have changed since a thread first recorded (prctl, pthread_setname_np on
// another thread); records of the live threads' current names go into the caller's buffer.
void refreshThreadNames() noexcept
{
    for (ThreadState* t = g_registry.load(std::memory_order_acquire); t; t = t->next) {
        if (t->status.load(std::memory_order_acquire) == uint32_t(SlotStatus::Live))
            emitThreadNameIfChanged(t, t->tid);
    }
}

void threadKeyInit() noexcept
{
    if (!g_keyCreated)
        g_keyCreated = pthread_key_create(&g_key, onThreadExit) == 0;
}

// Fork child: the parent's nodes hold the parent's records (the parent writes them); the child
// forgets them without writing a byte, and unmaps them since nothing of the child refers to them.
void resetThreadsAfterFork() noexcept
{
    ThreadState* t = g_registry.exchange(nullptr);
    while (t) {
        ThreadState* next = t->next;
        rawFree(t->ring, t->ringMask + 1);
        if (t->stacks.slots)
            rawFree(t->stacks.slots, (size_t(t->stacks.mask) + 1) * sizeof(StackSlot));
        rawFree(t->cfi, sizeof(CfiState));
        pythonThreadFree(t);
        rawFree(t, sizeof(ThreadState));
        t = next;
    }
    t_tls.state = nullptr;
    if (g_keyCreated)
        pthread_setspecific(g_key, nullptr);
}

} // namespace tidemark::interposer

using namespace tidemark::interposer;

// Thread names set by the program are recorded when they are set (for the calling thread) or at
// image end (for other threads).
extern "C" TIDEMARK_EXPORT int pthread_setname_np(pthread_t thread, const char* name)
{
    static int (*real)(pthread_t, const char*) = nullptr;
    if (!real) {
        ReentryGuard guard;
        real = reinterpret_cast<int (*)(pthread_t, const char*)>(dlsym(RTLD_NEXT, "pthread_setname_np"));
    }
    if (!real)
        return ENOSYS;
    int rc = real(thread, name);
    if (rc == 0 && active() && pthread_equal(thread, pthread_self())) {
        ReentryGuard guard;
        if (ThreadState* t = currentThread())
            emitThreadNameIfChanged(t, t->tid);
    }
    return rc;
}
