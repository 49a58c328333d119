// Internal state of the capture core shared by its .cpp files (not part of the emit.h contract):
// configuration, the per-thread state with its ring buffer, the spool file, and the counters.
// Everything here lives in static storage or mmap'd memory, never on the hooked heap.
#pragma once

#include "interposer/cfi.h"
#include "interposer/emit.h"
#include "trace/wire.h"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <sched.h>

#define TIDEMARK_EXPORT __attribute__((visibility("default")))
#define TIDEMARK_LIKELY(x) __builtin_expect(!!(x), 1)
#define TIDEMARK_UNLIKELY(x) __builtin_expect(!!(x), 0)

namespace tidemark::interposer {

// Cfi: our DWARF call-frame-information walker (stacks.cpp, cfi.cpp); FramePointer: the rbp chain;
// Libunwind: libunwind's unw_backtrace, a slower reference.
enum class Unwinder : uint8_t { FramePointer = 0, Libunwind = 1, Cfi = 2 };

// Parsed once from the environment by the constructor (see docs/capture.md).
struct Config {
    char spoolDir[1024] = {};
    unsigned stackDepth = 64;
    Unwinder unwinder = Unwinder::Cfi;
    bool checkUnwind = false; // TIDEMARK_UNWIND_CHECK: compare every CFI stack with libunwind's
    bool host = true;
    bool followFork = true;
    unsigned flushMs = 5;
    size_t ringBytes = size_t(4) << 20;
};
extern Config g_config;
void loadConfig() noexcept;

// Process-wide lifecycle: Inert (no spool dir, unfollowed fork child, fatal error), Active, Finished.
enum class Phase : uint32_t { Inert = 0, Active = 1, Finished = 2 };
extern std::atomic<uint32_t> g_phase;
extern std::atomic<bool> g_hostActive; // Active and TIDEMARK_HOST != 0
inline bool active() noexcept { return g_phase.load(std::memory_order_relaxed) == uint32_t(Phase::Active); }

// Per-thread dedupe table for stacks: open addressing in mmap'd memory.
struct StackSlot {
    uint64_t hash; // 0 = empty
    uint32_t id;
    uint32_t depth;
};
struct StackTable {
    StackSlot* slots = nullptr;
    uint32_t mask = 0;
    uint32_t used = 0;
};

// The thread's last frame-pointer stack, kept so the next capture walks only the frames below the
// first one that is unchanged and checks the rest in one pass (stacks.cpp). Two buffers of slots,
// outermost frame at the lowest slot: a walk fills the spare buffer from slot kInnermost upwards,
// then the buffers swap.
struct alignas(32) StackCacheEntry {
    uint64_t next; // the saved frame pointer at addr (next and ip: the 16 bytes at addr, 16-aligned here)
    uint64_t ip;   // the return address at addr + 8
    uint64_t addr; // frame address (the rbp chain)
    uint64_t w;    // g - (hash sum of the frames above this slot); see stacks.cpp
};
struct StackCache {
    static constexpr unsigned kInnermost = wire::kMaxStackDepth + 2;
    static constexpr unsigned kSlots = 2 * wire::kMaxStackDepth + 8;
    uint32_t cur = 0;        // buffer holding the cached stack
    uint32_t base = 0;       // its outermost frame's slot
    uint32_t end = 0;        // one past its innermost frame's slot; 0 = nothing cached
    uint32_t hasTerm = 0;    // slot base - 1 holds the frame whose bad return address ended the walk
    uint32_t n = 0;          // frames
    uint32_t id = 0;         // its stack id, 0 until looked up
    uint64_t g = 0;          // hash bookkeeping constant of this generation
    uint64_t hash = 0;
    StackCacheEntry e[2][kSlots];
};

// The CFI walker's per-thread state (stacks.cpp), mmap'd on the thread's first capture: a cache of
// rules by code address, the modules they came from, and the last stack, outermost frame first.
// Each frame keeps the memory words its step to the caller read (return address, saved rbp, a
// realigned frame's CFA), so the next capture that reaches the same (pc, sp, rbp) can check that
// those words are unchanged instead of walking on: the walk is a function of them alone.
struct CfiFrame {
    uint64_t pc; // return address, or flags | exact pc (see stacks.cpp)
    uint64_t sp;
    uint64_t rbp;
    uint64_t sum; // hash sum over this frame and every frame outside it
    const uint64_t* read[3]; // nullptr in read[0]: the step cannot be checked (signal frame)
    uint64_t value[3];
};
struct CfiRuleSlot {
    uint64_t key; // lookup address + 1 (0 = empty)
    cfi::Rule rule;
};
struct CfiState {
    static constexpr unsigned kRuleBits = 13;
    static constexpr unsigned kModules = 32;
    uint32_t epoch = 0;      // g_cfiEpoch the caches belong to
    uint32_t moduleNext = 0; // round-robin replacement
    uint32_t n = 0;          // frames of the cached stack (0 = none)
    uint32_t id = 0;         // its stack id, 0 until looked up
    uint64_t hash = 0;
    bool truncated = false;
    cfi::Module modules[kModules];
    CfiRuleSlot rules[1u << kRuleBits];
    CfiFrame frames[wire::kMaxStackDepth + 1];
    CfiFrame fresh[wire::kMaxStackDepth + 1];
};
// Bumped after every dlclose: code addresses may now mean other code, so cached rules go.
extern std::atomic<uint32_t> g_cfiEpoch;

enum class SlotStatus : uint32_t { Free = 0, Live = 1, Exited = 2 };

// One per thread that emitted anything; nodes are never unmapped while the process runs (a dead
// thread's node is reused by a new thread), so a stale pointer can never touch unmapped memory.
struct PyThreadCache; // python.cpp

struct ThreadState {
    ThreadState* next = nullptr; // registry list, immutable once published
    std::atomic<uint32_t> status { 0 };
    uint32_t tid = 0;
    uint8_t* ring = nullptr;
    uint64_t ringMask = 0;
    alignas(64) std::atomic<uint64_t> head { 0 }; // producer: bytes ever written
    uint64_t cachedTail = 0;
    // Heap event timestamps (eventNowNs): the last one, the other threads' event count when the
    // clock was last read, how many events may still go without reading it, and for how many
    // clock reads not to try that after another thread was seen recording.
    uint64_t lastTs = 0;
    uint64_t othersSeen = 0;
    uint32_t tsCredit = 0;
    uint32_t tsBackoff = 0;
    uint32_t tickSeen = 0; // g_drainTick at that clock read
    alignas(64) std::atomic<uint64_t> tail { 0 }; // consumer: bytes ever drained
    std::atomic<uint32_t> drainLock { 0 };
    uint32_t dtorRounds = 0;
    alignas(64) uintptr_t stackHi = 0; // highest address of this thread's stack (for the FP walk)
    uintptr_t stackLo = 0;             // its lowest address (0 = unknown)
    StackTable stacks;
    CfiState* cfi = nullptr;           // the CFI walker's caches, created on first use
    PyThreadCache* py = nullptr;       // Python frame caches, created on the first Python stack
    StackSlot recentStacks[4] = {};    // the last stacks looked up, checked before the table
    uint32_t recentNext = 0;
    char name[16] = {};
    // Bumped (by the owning thread, read by others: othersEvents) for every record and before a
    // real realloc, i.e. before anything that can release a block to another thread.
    uint64_t activity = 0;
    // counters, written by the owning thread only; summed at exit
    uint64_t events = 0;
    uint64_t dropped = 0;
    uint64_t ringWaits = 0;
    uint64_t selfDrains = 0;
    uint64_t stackCaptures = 0;
    uint64_t stacksNew = 0;
    uint64_t stacksTruncated = 0;
    uint64_t stacksEmpty = 0;
    uint64_t framesReused = 0;
    uint64_t framesWalked = 0;
    uint64_t framesGuessed = 0; // CFI walk: frames without unwind rules, taken from the rbp chain
    uint64_t clockReads = 0; // heap events that read the clock (eventNowNsSlow)
    // Scratch for stack capture: two words for the Stack record header, then the frames, so a new
    // stack goes into the ring in one copy.
    uint64_t stackBuf[2 + wire::kMaxStackDepth + 16];
    uint64_t* frames() noexcept { return stackBuf + 2; }
    StackCache stackCache; // last, so the hot fields above share as few pages as possible with it
};

// Initial-exec TLS, plain data only (glibc requires initial-exec for anything malloc touches).
struct Tls {
    ThreadState* state;
    uint32_t inside;  // re-entrancy depth flag: hooks record nothing while set
    uint32_t rangeId; // innermost NVTX range (emit.h currentRangeId)
};
extern thread_local constinit Tls t_tls; // constinit: no TLS wrapper call on every access

// Holds a spin lock over flag for its scope, yielding while another thread has it: for short
// sections of capture code that may not take a mutex or allocate.
class SpinGuard {
public:
    explicit SpinGuard(std::atomic<bool>& flag) noexcept
        : m_flag(flag)
    {
        while (flag.exchange(true, std::memory_order_acquire))
            sched_yield();
    }
    ~SpinGuard() { m_flag.store(false, std::memory_order_release); }
    SpinGuard(const SpinGuard&) = delete;
    SpinGuard& operator=(const SpinGuard&) = delete;

private:
    std::atomic<bool>& m_flag;
};

// Model phases (model_phases.cpp): process-wide ranges reported by the framework hook.
extern std::atomic<uint32_t> g_modelPhase; // the open model phase range, 0 = none
extern std::atomic<uint32_t> g_modelStep;  // the open "step N" range, 0 = none
void modelPhasesReset() noexcept;

// The range an event of this thread belongs to: the open model phase, else the thread's innermost
// NVTX range, else the open step.
inline uint32_t eventRangeId() noexcept
{
    if (uint32_t phase = g_modelPhase.load(std::memory_order_relaxed))
        return phase;
    if (uint32_t own = t_tls.rangeId)
        return own;
    return g_modelStep.load(std::memory_order_relaxed);
}

// Threads and buffers (writer.cpp).
extern std::atomic<ThreadState*> g_registry; // every thread's state, newest first; nodes never go
ThreadState* attachThread() noexcept; // creates this thread's state; nullptr when inactive
inline ThreadState* currentThread() noexcept
{
    ThreadState* t = t_tls.state;
    return TIDEMARK_LIKELY(t != nullptr) ? t : attachThread();
}
void ringPut(ThreadState* t, const void* record, uint32_t bytes) noexcept;

inline void noteActivity(ThreadState* t) noexcept
{
    __atomic_store_n(&t->activity, t->activity + 1, __ATOMIC_RELAXED);
}

// Fast path for fixed-size hot records: a pointer to `bytes` contiguous bytes at the head when there
// is room without wrapping and the ring is under half full, else nullptr (then build the record
// and call ringPut). Fields are stored straight into the ring as whole words: building the record
// on the stack and copying it costs a store-forwarding stall per event.
inline uint64_t* ringReserve(ThreadState* t, uint64_t bytes) noexcept
{
    uint64_t head = t->head.load(std::memory_order_relaxed);
    uint64_t size = t->ringMask + 1;
    uint64_t pos = head & t->ringMask;
    if (TIDEMARK_LIKELY(head + bytes - t->cachedTail <= size / 2 && pos + bytes <= size)) {
        // Ask for the line four lines ahead in exclusive state, so the stores that reach it later
        // do not stall on a read-for-ownership (the drain thread read it on another core).
        __builtin_prefetch(t->ring + ((pos + 256) & t->ringMask), 1, 3);
        return reinterpret_cast<uint64_t*>(t->ring + pos);
    }
    return nullptr;
}
inline void ringCommit(ThreadState* t, uint64_t bytes) noexcept
{
    ++t->events;
    noteActivity(t);
    t->head.store(t->head.load(std::memory_order_relaxed) + bytes, std::memory_order_release);
}
constexpr uint64_t headerWord(wire::Kind kind, uint16_t bytes, uint16_t field16) noexcept
{
    return uint64_t(uint16_t(kind)) | uint64_t(bytes) << 16 | uint64_t(field16) << 32;
}

void drainAll(bool wait) noexcept;       // writes every buffer's pending records now
void drainPass(bool* busy) noexcept;     // one pass of the drain thread
void resetThreadsAfterFork() noexcept;   // child: forget the parent's buffers
void retireDeadThreads() noexcept;       // drain thread: recycle nodes of threads that are gone
void emitThreadNameIfChanged(ThreadState* t, uint32_t tid) noexcept;
void foldAllThreadCounters() noexcept;
void refreshThreadNames() noexcept;
void threadKeyInit() noexcept;

// Spool file (spool_file.cpp).
bool openSpoolFile(uint32_t ppid) noexcept; // O_EXCL on <pid>.<seq>.tmspool, writes the header
bool writeChunk(uint32_t tid, const void* a, size_t aBytes, const void* b, size_t bBytes) noexcept;
void closeSpoolFileInChild() noexcept;
void fatal(const char* what) noexcept; // warn once, count, turn tracking off

// Clock (clock.cpp). The hot path reads the TSC inline; see clock.cpp for the calibration.
struct TscParams {
    uint64_t tscBase;
    uint64_t nsBase;
    uint64_t mult; // ns per tick << 32
};
extern TscParams g_tscSlots[2];
extern std::atomic<uint32_t> g_tscSeq;
extern std::atomic<bool> g_useTsc;
inline uint64_t fastNowNs() noexcept
{
    if (TIDEMARK_LIKELY(g_useTsc.load(std::memory_order_relaxed))) {
        const TscParams& p = g_tscSlots[g_tscSeq.load(std::memory_order_acquire) & 1];
        return p.nsBase + uint64_t((unsigned __int128)(__builtin_ia32_rdtsc() - p.tscBase) * p.mult >> 32);
    }
    return nowNs();
}
void clockInit() noexcept;
void clockRecalibrate() noexcept; // drain thread: refine the TSC-to-ns slope

// Timestamp of a heap event of thread t, taken after the real allocation returned (before the
// real free). Reading the TSC costs more than its ~8 ns here: rdtsc waits for every load in
// flight (on this VM it behaves as lfence; rdtsc), so the program's cache misses stop overlapping.
// While no other thread has recorded an event since this thread last read the clock, no event
// of another thread can be ordered between this thread's events (a block reaches another thread
// only through the allocator's own synchronisation, after the event that released it was
// counted), so up to kTsCredit events in a row take the previous timestamp + 1 ns: never ahead of
// the true time, strictly increasing per thread, and every event another thread records makes
// this thread read the clock again before its next event. A timestamp is never older than the
// last drain pass (g_drainTick: TIDEMARK_FLUSH_MS), so a pause between two events costs at most
// that much accuracy, never the order. docs/capture.md, "Time".
constexpr uint32_t kTsCredit = 32;
extern std::atomic<uint32_t> g_drainTick; // drain.cpp: changes on every drain pass (at least every
                                          // flush interval); 0 while no drain thread runs
constexpr unsigned kTsWatchedThreads = 8; // more threads than this: always read the clock
constexpr uint32_t kTsBackoff = 256;      // clock reads before trying again after seeing another thread

// Sum of the other threads' activity counters; ~0 when there are too many threads to watch.
inline uint64_t othersEvents(const ThreadState* self) noexcept
{
    uint64_t sum = 0;
    unsigned n = 0;
    for (const ThreadState* o = g_registry.load(std::memory_order_acquire); o; o = o->next) {
        if (o == self)
            continue;
        if (++n > kTsWatchedThreads)
            return ~uint64_t(0);
        sum += __atomic_load_n(&o->activity, __ATOMIC_RELAXED);
    }
    return sum;
}
uint64_t eventNowNsSlow(ThreadState* t) noexcept;
inline uint64_t eventNowNs(ThreadState* t) noexcept
{
    if (TIDEMARK_LIKELY(t->tsCredit != 0)) {
        if (TIDEMARK_LIKELY(othersEvents(t) == t->othersSeen
                && g_drainTick.load(std::memory_order_relaxed) == t->tickSeen)) {
            --t->tsCredit;
            return ++t->lastTs;
        }
        t->tsCredit = 0;
        if (othersEvents(t) != t->othersSeen)
            t->tsBackoff = kTsBackoff;
    }
    return eventNowNsSlow(t);
}

// Stacks (stacks.cpp).
bool stacksInit() noexcept;
void stacksLoadUnwinder() noexcept;
// Walks from `frame` (a frame pointer of ours, e.g. the calling hook's __builtin_frame_address(0)):
// leading frames in libtidemark.so and `skip` more are dropped.
uint32_t captureStackFor(ThreadState* t, const void* frame, unsigned skip) noexcept;
void resetStackIds() noexcept;
bool addressIsOurs(uintptr_t ip) noexcept;

// Python frames (python.cpp): where the CPython eval loop is on the stack, the Python functions it
// runs replace its frames.
void pythonDetect() noexcept;
bool pythonEnabled() noexcept;
// native: the walk innermost first; nativeTruncated: cut at the depth limit (the Python functions of
// the lost outer eval frames are appended).
unsigned pythonExpand(ThreadState* t, const uint64_t* native, unsigned n, bool nativeTruncated, bool nativeSame,
    uint64_t* out, bool* same) noexcept;
uint32_t pythonLastId(ThreadState* t) noexcept;
void pythonRemember(ThreadState* t, uint32_t id) noexcept;
uint32_t pythonParentFor(ThreadState* t, const uint64_t* frames, unsigned n, unsigned* shared) noexcept;
void pythonEmitted(ThreadState* t, uint32_t id, const uint64_t* frames, unsigned n) noexcept;
void pythonThreadFree(ThreadState* t) noexcept;
void pythonReset() noexcept;

// Modules (modules.cpp).
void modulesScan(bool force) noexcept; // emits Module / ModuleUnload records for changes
void modulesResetAfterFork() noexcept;

// Strings (strings.cpp).
void stringsReset() noexcept;

// Drain thread (drain.cpp).
bool drainThreadStart() noexcept;
void drainThreadWake() noexcept;
void drainThreadStop() noexcept;

// Process-wide counters (not per thread) reported as Stat records at exit.
struct GlobalCounters {
    std::atomic<uint64_t> chunks { 0 };
    std::atomic<uint64_t> bytesWritten { 0 };
    std::atomic<uint64_t> writeErrors { 0 };
    std::atomic<uint64_t> threads { 0 };
    std::atomic<uint64_t> bootstrapAllocs { 0 };
    std::atomic<uint64_t> moduleRecords { 0 };
    std::atomic<uint64_t> moduleUnloads { 0 };
    std::atomic<uint64_t> execCalls { 0 };
    std::atomic<uint64_t> execFailed { 0 };
    std::atomic<uint64_t> forks { 0 };
    std::atomic<uint64_t> strings { 0 };
    std::atomic<uint64_t> drainPasses { 0 };
    // counters of recycled thread nodes
    std::atomic<uint64_t> events { 0 };
    std::atomic<uint64_t> dropped { 0 };
    std::atomic<uint64_t> ringWaits { 0 };
    std::atomic<uint64_t> selfDrains { 0 };
    std::atomic<uint64_t> stackCaptures { 0 };
    std::atomic<uint64_t> stacksNew { 0 };
    std::atomic<uint64_t> stacksTruncated { 0 };
    std::atomic<uint64_t> stacksEmpty { 0 };
    std::atomic<uint64_t> framesReused { 0 };
    std::atomic<uint64_t> framesWalked { 0 };
    std::atomic<uint64_t> framesGuessed { 0 };
    std::atomic<uint64_t> unwindChecks { 0 };     // TIDEMARK_UNWIND_CHECK: captures compared
    std::atomic<uint64_t> unwindMismatches { 0 }; // ... and found different from libunwind's
    std::atomic<uint64_t> clockReads { 0 };
};
extern GlobalCounters g_counters;
void resetCounters() noexcept;
void foldThreadCounters(ThreadState* t) noexcept; // adds t's counters to g_counters, zeroes them
void emitExitStats() noexcept;                     // Stat records: counters and hook coverage
void finishImage(wire::ExitReason reason) noexcept; // last records of this image, then flush

// Start-up (lifecycle.cpp): earlyStart() runs at the first hooked call or in the constructor,
// whichever comes first, so allocations made by libraries initialised before us are recorded.
extern std::atomic<int> g_startState; // 0 not tried, 1 starting, 2 done
void earlyStart() noexcept;

// Hook coverage (host_hooks.cpp): which real functions were resolved.
bool hostHooksResolve() noexcept;
void emitHookCoverage() noexcept;

// The pid and ppid this image records as (refreshed in a fork child).
extern uint32_t g_pid;
extern uint32_t g_ppid;
extern uint64_t g_startNs;

// mmap-based allocation for our own structures (never the hooked heap).
void* rawAlloc(size_t bytes) noexcept;
void rawFree(void* p, size_t bytes) noexcept;

} // namespace tidemark::interposer
