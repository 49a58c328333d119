// The drain thread: every TIDEMARK_FLUSH_MS (or at once when a producer's ring passes half full)
// it writes every thread's pending records to the spool file, recycles buffers of dead threads,
// rescans modules when the loader's counters moved, and refines the TSC calibration.
#include "interposer/runtime.h"

#include <cerrno>
#include <climits>
#include <ctime>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace tidemark::interposer {

alignas(64) std::atomic<uint32_t> g_drainTick { 0 };

namespace {

std::atomic<uint32_t> g_wake { 0 };
std::atomic<bool> g_stop { false };
std::atomic<bool> g_running { false };
pthread_t g_thread;

void futexWait(std::atomic<uint32_t>* word, uint32_t expected, unsigned ms) noexcept
{
    timespec ts { time_t(ms / 1000), long(ms % 1000) * 1000000L };
    ::syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAIT_PRIVATE, expected, &ts, nullptr, 0);
}

void* drainMain(void*) noexcept
{
    t_tls.inside = 1; // nothing this thread allocates is the target's
    prctl(PR_SET_NAME, "tidemark-drain", 0, 0, 0);
    unsigned ticks = 0;
    uint32_t tick = 1;
    while (!g_stop.load(std::memory_order_acquire) && active()) {
        g_drainTick.store(tick += 2, std::memory_order_relaxed); // bounds how stale a timestamp gets
        g_wake.store(0, std::memory_order_relaxed);
        bool busy = false;
        drainPass(&busy);
        if (++ticks % 8 == 0)
            retireDeadThreads();
        modulesScan(false);
        clockRecalibrate();
        if (!busy)
            futexWait(&g_wake, 0, g_config.flushMs);
    }
    g_drainTick.store(0, std::memory_order_relaxed);
    g_running.store(false, std::memory_order_release);
    return nullptr;
}

} // namespace

bool drainThreadStart() noexcept
{
    ReentryGuard guard;
    g_stop.store(false);
    g_wake.store(0);
    g_drainTick.store(0, std::memory_order_relaxed); // a fork child must not go on the parent's ticks
    // The drain thread must never take one of the target's signals.
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    g_running.store(true);
    int rc = pthread_create(&g_thread, &attr, drainMain, nullptr);
    pthread_attr_destroy(&attr);
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    if (rc != 0) {
        g_running.store(false);
        errno = rc;
        fatal("cannot start the drain thread");
        return false;
    }
    return true;
}

void drainThreadWake() noexcept
{
    // A plain load first: while a wake is pending, producers only read the shared line.
    if (g_wake.load(std::memory_order_relaxed) == 0 && g_wake.exchange(1, std::memory_order_relaxed) == 0)
        ::syscall(SYS_futex, reinterpret_cast<uint32_t*>(&g_wake), FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
}

// Asks the drain thread to finish and waits briefly (it is detached, and during exit() it may
// already be gone); the caller then drains whatever is left itself.
void drainThreadStop() noexcept
{
    g_stop.store(true, std::memory_order_release);
    g_drainTick.store(0, std::memory_order_relaxed);
    drainThreadWake();
    for (int i = 0; i < 200 && g_running.load(std::memory_order_acquire); ++i) {
        timespec ts { 0, 1000000L };
        nanosleep(&ts, nullptr);
    }
}

} // namespace tidemark::interposer
