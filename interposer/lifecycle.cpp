// Lifecycle of the capture core in one process image: start in the library constructor (config,
// spool file, ProcessInfo, modules, drain thread), flush at atexit and finish in a late destructor
// (frees after atexit still count), and fork handling (a followed child becomes its own process).
#include "interposer/runtime.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace tidemark::interposer {

std::atomic<uint32_t> g_phase { uint32_t(Phase::Inert) };
std::atomic<int> g_startState { 0 };
std::atomic<bool> g_hostActive { false };
GlobalCounters g_counters;
uint32_t g_pid = 0;
uint32_t g_ppid = 0;
uint64_t g_startNs = 0;

namespace {

std::atomic<uint32_t> g_nextObjectId { 1 };
std::atomic<bool> g_finished { false };
uint64_t g_forkNs = 0; // the clock just before the last fork(): a followed child's start

ssize_t readFile(const char* path, char* buf, size_t cap) noexcept
{
    int fd = ::open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t got = 0;
    while (got < cap) {
        ssize_t n = ::read(fd, buf + got, cap - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += size_t(n);
    }
    ::close(fd);
    return ssize_t(got);
}

void emitProcessInfo() noexcept
{
    constexpr size_t kExeCap = 4096, kCmdCap = 32768; // a record is at most 64 KiB
    static char buf[sizeof(wire::ProcessInfoRecord) + kExeCap + kCmdCap + 8];
    static char exe[kExeCap];
    ssize_t exeLen = ::readlink("/proc/self/exe", exe, sizeof(exe));
    if (exeLen < 0)
        exeLen = 0;
    char* cmd = buf + sizeof(wire::ProcessInfoRecord) + exeLen;
    ssize_t cmdLen = readFile("/proc/self/cmdline", cmd, kCmdCap);
    if (cmdLen < 0)
        cmdLen = 0;
    std::memcpy(buf + sizeof(wire::ProcessInfoRecord), exe, size_t(exeLen));
    wire::ProcessInfoRecord r {};
    r.h.kind = uint16_t(wire::Kind::ProcessInfo);
    uint32_t raw = uint32_t(sizeof(r) + exeLen + cmdLen);
    r.h.size_bytes = uint16_t(wire::padTo8(raw));
    r.pid = g_pid;
    r.ppid = g_ppid;
    r.exe_len = uint32_t(exeLen);
    r.cmdline_len = uint32_t(cmdLen);
    r.ts_ns = g_startNs;
    std::memcpy(buf, &r, sizeof(r));
    std::memset(buf + raw, 0, r.h.size_bytes - raw);
    emit(buf, r.h.size_bytes);
}

void emitProcessExit(wire::ExitReason reason) noexcept
{
    wire::ProcessExitRecord r {};
    r.h.kind = uint16_t(wire::Kind::ProcessExit);
    r.h.size_bytes = sizeof(r);
    r.reason = uint32_t(reason);
    r.ts_ns = nowNs();
    emit(&r, sizeof(r));
}

// Opens this image's spool file and writes what describes the image before any event. startNs: the
// image's start time when not now (a fork child: the moment before fork()).
bool startImage(uint64_t startNs) noexcept
{
    g_pid = uint32_t(::getpid());
    g_ppid = uint32_t(::getppid());
    g_startNs = startNs ? startNs : nowNs();
    resetCounters();
    if (!openSpoolFile(g_ppid))
        return false;
    g_phase.store(uint32_t(Phase::Active));
    g_hostActive.store(g_config.host && hostHooksResolve());
    emitProcessInfo();
    modulesScan(true);
    return true;
}

void onAtExit() noexcept
{
    if (!active() || uint32_t(::getpid()) != g_pid)
        return;
    ReentryGuard guard;
    drainAll(true);
}

// The fork's time, read before fork() and after every event the parent recorded until then, is the
// child's start: the collector takes the parent's blocks live at that time as the child's inherited
// heap, so a parent event after fork() must not carry an earlier time.
void forkPrepare() noexcept
{
    ++t_tls.inside;
    if (active())
        g_forkNs = nowNs();
}

void forkParent() noexcept
{
    --t_tls.inside;
    if (!active())
        return;
    g_counters.forks.fetch_add(1, std::memory_order_relaxed);
    // Every thread of the parent reads the clock for its next heap event (eventNowNs gives the
    // previous time + 1 ns only while g_drainTick is unchanged). The drain thread's ticks are odd,
    // these even: no value comes back.
    uint32_t tick = g_drainTick.load(std::memory_order_relaxed);
    if (tick != 0)
        g_drainTick.store(tick % 2 ? tick + 1 : tick + 2, std::memory_order_relaxed);
}

// The child starts with one thread and copies of the parent's buffers; it drops them unwritten
// (the parent writes its own records) and, when followed, records itself in a new spool file.
void forkChild() noexcept
{
    bool wasActive = active();
    g_phase.store(uint32_t(Phase::Inert));
    g_hostActive.store(false);
    closeSpoolFileInChild();
    resetThreadsAfterFork();
    stringsReset();
    pythonReset();
    modelPhasesReset();
    resetStackIds();
    modulesResetAfterFork();
    g_nextObjectId.store(1);
    if (wasActive && g_config.followFork && startImage(g_forkNs))
        drainThreadStart();
    --t_tls.inside;
}

} // namespace

void resetCounters() noexcept
{
    auto zero = [](std::atomic<uint64_t>& c) { c.store(0, std::memory_order_relaxed); };
    GlobalCounters& g = g_counters;
    for (auto* c : { &g.chunks, &g.bytesWritten, &g.writeErrors, &g.threads, &g.bootstrapAllocs, &g.moduleRecords,
             &g.moduleUnloads, &g.execCalls, &g.execFailed, &g.forks, &g.strings, &g.drainPasses, &g.events,
             &g.dropped, &g.ringWaits, &g.selfDrains, &g.stackCaptures, &g.stacksNew, &g.stacksTruncated,
             &g.stacksEmpty, &g.framesReused, &g.framesWalked, &g.framesGuessed, &g.unwindChecks, &g.unwindMismatches, &g.clockReads })
        zero(*c);
}

void emitThreadNameIfChanged(ThreadState* t, uint32_t tid) noexcept
{
    char path[64], name[24];
    std::snprintf(path, sizeof(path), "/proc/self/task/%u/comm", tid);
    ssize_t n = readFile(path, name, 16);
    if (n <= 0)
        return;
    while (n > 0 && (name[n - 1] == '\n' || name[n - 1] == '\0'))
        --n;
    name[n] = '\0';
    if (std::strncmp(name, t->name, sizeof(t->name)) == 0)
        return;
    std::memcpy(t->name, name, size_t(n) + 1);
    alignas(8) uint8_t buf[sizeof(wire::ThreadNameRecord) + 24] = {};
    wire::ThreadNameRecord r {};
    r.h.kind = uint16_t(wire::Kind::ThreadName);
    r.h.size_bytes = uint16_t(wire::padTo8(uint32_t(sizeof(r) + n)));
    r.tid = tid;
    r.name_len = uint32_t(n);
    r.ts_ns = nowNs();
    std::memcpy(buf, &r, sizeof(r));
    std::memcpy(buf + sizeof(r), name, size_t(n));
    emit(buf, r.h.size_bytes);
}

// Writes the last records of the image (thread names, counters, ProcessExit) and flushes every
// buffer. Called once: by the late destructor (reason Exit) or before an exec (reason Exec).
void finishImage(wire::ExitReason reason) noexcept
{
    if (!active() || uint32_t(::getpid()) != g_pid)
        return;
    ReentryGuard guard;
    if (ThreadState* t = currentThread())
        emitThreadNameIfChanged(t, t->tid);
    refreshThreadNames();
    modulesScan(false);
    emitExitStats();
    emitProcessExit(reason);
    drainAll(true);
}

uint32_t nextObjectId() noexcept { return g_nextObjectId.fetch_add(1, std::memory_order_relaxed); }
bool trackingEnabled() noexcept { return active(); }
uint32_t currentRangeId() noexcept { return eventRangeId(); }
void setCurrentRangeId(uint32_t id) noexcept { t_tls.rangeId = id; }

ReentryGuard::ReentryGuard() noexcept
    : m_wasInside(t_tls.inside != 0)
{
    ++t_tls.inside;
}

ReentryGuard::~ReentryGuard() { --t_tls.inside; }

} // namespace tidemark::interposer

using namespace tidemark::interposer;

// One per copy of the capture code. dlsym(RTLD_DEFAULT) finds the first in the process's lookup order:
// the copy whose hooks are the ones in use. Our own references to an exported symbol bind to that
// first one too, so this copy's is compared through a hidden alias.
extern "C" TIDEMARK_EXPORT const char tidemark_capture_instance = 1;
extern "C" __attribute__((visibility("hidden"), alias("tidemark_capture_instance"))) const char
    tidemark_capture_this_copy;

namespace tidemark::interposer {

namespace {

// A program can carry the capture code itself (the ThreadSanitizer test links it in, because TSan's
// malloc would come before a preloaded one) while `record` preloads libtidemark.so as well: the copy
// that is not first in lookup order sees none of the calls, and two copies would write one spool file.
bool anotherCopyComesFirst() noexcept
{
    const void* first = dlsym(RTLD_DEFAULT, "tidemark_capture_instance");
    return first != nullptr && first != &tidemark_capture_this_copy;
}

} // namespace

// Everything that is safe while the dynamic loader is still starting the process (the first
// malloc may come from the loader or from a library constructor that runs before ours): config,
// clock, the spool file, ProcessInfo and modules. No thread, no dlopen.
void earlyStart() noexcept
{
    // A malloc from a library's initialiser that runs before libc has set up environ (the
    // AddressSanitizer runtime's, in a program built with -fsanitize=address) cannot read the
    // configuration yet: start at a later call instead of staying off for the whole run.
    if (environ == nullptr)
        return;
    int expected = 0;
    if (!g_startState.compare_exchange_strong(expected, 1))
        return;
    ReentryGuard guard;
    hostHooksResolve();
    if (anotherCopyComesFirst()) {
        g_startState.store(2);
        return;
    }
    loadConfig();
    if (g_config.spoolDir[0]) {
        clockInit();
        threadKeyInit();
        stacksInit();
        pthread_atfork(forkPrepare, forkParent, forkChild);
        std::atexit(onAtExit);
        startImage(0);
    }
    g_startState.store(2);
}

} // namespace tidemark::interposer

// The constructor finishes the start: the unwinder and the drain thread.
__attribute__((constructor(101))) static void tidemarkStart()
{
    earlyStart();
    if (!active())
        return;
    ReentryGuard guard;
    stacksLoadUnwinder();
    pythonDetect();
    drainThreadStart();
}

// Runs after the executable's static destructors and atexit handlers (registered later than
// ours, so they run earlier), so frees made there are recorded.
__attribute__((destructor(101))) static void tidemarkFinish()
{
    if (!active() || uint32_t(::getpid()) != g_pid)
        return;
    finishImage(tidemark::wire::ExitReason::Exit);
    drainThreadStop();
    drainAll(true);
    g_phase.store(uint32_t(Phase::Finished));
    g_hostActive.store(false);
}
