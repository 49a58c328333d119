// A target for the reliability tests: each mode stresses one thing a real program does to an
// LD_PRELOAD profiler, allocates blocks of exactly kMarker bytes where it matters, and prints
// "expect N" (N marker allocations in all of its processes) so the test can count them in the recording.
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <signal.h>
#include <spawn.h>
#include <string>
#include <sys/time.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

extern char** environ;

namespace {

constexpr size_t kMarker = 12345;

// Opaque to the optimizer: the block is written and freed or kept on purpose.
void* marker(bool keep = false)
{
    void* p = std::malloc(kMarker);
    std::memset(p, 1, 16);
    asm volatile("" : : "r"(p) : "memory");
    if (!keep) {
        std::free(p);
        return nullptr;
    }
    return p;
}

int forks(int children)
{
    for (int i = 0; i < children; ++i) {
        pid_t pid = fork();
        if (pid == 0) {
            for (int k = 0; k < 3; ++k)
                marker();
            std::exit(0);
        }
    }
    int failed = 0;
    for (int i = 0; i < children; ++i) {
        int st = 0;
        if (wait(&st) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
            ++failed;
    }
    std::printf("expect %d\n", children * 3);
    return failed;
}

int spawns()
{
    volatile int failed = 0;
    for (int i = 0; i < 10; ++i) {
        marker();
        pid_t pid = 0;
        char sh[] = "/bin/sh", c[] = "-c", cmd[] = "exit 0";
        char* argv[] = { sh, c, cmd, nullptr };
        if (posix_spawn(&pid, "/bin/sh", nullptr, nullptr, argv, environ) != 0) {
            failed = failed + 1;
            continue;
        }
        int st = 0;
        waitpid(pid, &st, 0);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
            failed = failed + 1;
    }
    for (int i = 0; i < 5; ++i) {
        marker();
        pid_t pid = vfork();
        if (pid == 0) {
            execl("/bin/true", "true", static_cast<char*>(nullptr));
            _exit(127);
        }
        int st = 0;
        waitpid(pid, &st, 0);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
            failed = failed + 1;
    }
    std::printf("expect 15\n");
    return failed;
}

std::atomic<int> g_handled { 0 };

void onAlarm(int)
{
    marker(); // async-signal-unsafe, as real programs do anyway
    g_handled.fetch_add(1);
}

int signalAllocs()
{
    struct sigaction sa {};
    sa.sa_handler = onAlarm;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGALRM, &sa, nullptr);
    itimerval it {};
    it.it_interval.tv_usec = 2000;
    it.it_value.tv_usec = 2000;
    setitimer(ITIMER_REAL, &it, nullptr);
    // The alarm is blocked while main is inside malloc or free: a handler that interrupts glibc's
    // own malloc and calls it again deadlocks on the arena lock, bare or not (seen here). It runs
    // between them instead, as soon as it is unblocked.
    sigset_t alarm;
    sigemptyset(&alarm);
    sigaddset(&alarm, SIGALRM);
    std::vector<void*> keep;
    while (g_handled.load() < 50) {
        sigprocmask(SIG_BLOCK, &alarm, nullptr);
        void* p = std::malloc(64 + keep.size() % 512);
        keep.push_back(p);
        if (keep.size() > 1000) {
            for (void* q : keep)
                std::free(q);
            keep.clear();
        }
        sigprocmask(SIG_UNBLOCK, &alarm, nullptr);
    }
    itimerval off {};
    setitimer(ITIMER_REAL, &off, nullptr);
    for (void* q : keep)
        std::free(q);
    std::printf("expect %d\n", g_handled.load());
    return 0;
}

struct TlsAllocator {
    ~TlsAllocator() { marker(true); }
};
thread_local TlsAllocator t_tls;

void atExitAllocs()
{
    for (int i = 0; i < 5; ++i)
        marker(true);
}

int exitPaths()
{
    std::atexit(atExitAllocs);
    std::vector<std::thread> threads;
    for (int i = 0; i < 5; ++i)
        threads.emplace_back([] {
            (void)&t_tls; // construct it: its destructor runs at thread exit and allocates
            marker();
        });
    for (auto& t : threads)
        t.join();
    std::printf("expect %d\n", 5 /*atexit*/ + 5 * 2 /*thread body + TLS destructor*/ + 1 /*main's TLS*/);
    (void)&t_tls;
    return 0;
}

int dlopenLoop()
{
    int failed = 0;
    for (int i = 0; i < 100; ++i) {
        void* h = dlopen("libz.so.1", RTLD_NOW | RTLD_LOCAL);
        if (!h) {
            ++failed;
            continue;
        }
        marker();
        dlclose(h);
    }
    std::printf("expect 100\n");
    return failed;
}

int earlyThreads()
{
    std::vector<std::thread> threads;
    std::atomic<bool> stop { false };
    for (int i = 0; i < 32; ++i)
        threads.emplace_back([i] {
            for (int k = 0; k < 100 + i; ++k)
                marker();
        });
    // Main keeps allocating while the threads end one by one.
    std::vector<void*> keep;
    for (int k = 0; k < 20000; ++k) {
        keep.push_back(std::malloc(32));
        if (keep.size() == 256) {
            for (void* p : keep)
                std::free(p);
            keep.clear();
        }
    }
    for (auto& t : threads)
        t.join();
    for (void* p : keep)
        std::free(p);
    int n = 0;
    for (int i = 0; i < 32; ++i)
        n += 100 + i;
    std::printf("expect %d\n", n);
    (void)stop;
    return 0;
}

// threads × perThread allocations of 7001..7016 bytes (no other allocation of the program has those
// sizes), each freed 64 allocations later, all threads at once. Prints "expect N" and "threads T".
int load(int threadCount, long perThread)
{
    std::vector<std::thread> threads;
    for (int t = 0; t < threadCount; ++t)
        threads.emplace_back([perThread] {
            void* ring[64] = {};
            for (long k = 0; k < perThread; ++k) {
                void*& slot = ring[k % 64];
                std::free(slot);
                slot = std::malloc(7001 + k % 16);
                static_cast<char*>(slot)[0] = 1;
            }
            for (void* p : ring)
                std::free(p);
        });
    for (auto& t : threads)
        t.join();
    std::printf("expect %ld\nthreads %d\n", threadCount * perThread, threadCount);
    return 0;
}

// Allocates marker blocks for 200 ms, prints "last N T" (N markers, the CLOCK_MONOTONIC time T of
// the last one), then ends at once: segv, abort, _exit or SIGKILL (sent to itself).
int die(const std::string& how)
{
    auto nowNs = [] {
        timespec ts {};
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return static_cast<long long>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
    };
    const long long start = nowNs();
    long long n = 0, last = start;
    while (last - start < 200'000'000) {
        marker();
        last = nowNs();
        ++n;
    }
    std::printf("last %lld %lld\n", n, last);
    if (how == "segv")
        *static_cast<volatile int*>(nullptr) = 1;
    if (how == "abort")
        std::abort();
    if (how == "_exit")
        _exit(3);
    if (how == "sigkill")
        kill(getpid(), SIGKILL);
    return 2;
}

} // namespace

int main(int argc, char** argv)
{
    std::setvbuf(stdout, nullptr, _IONBF, 0);
    std::string mode = argc > 1 ? argv[1] : "";
    if (mode == "fork50")
        return forks(50);
    if (mode == "spawn")
        return spawns();
    if (mode == "signal")
        return signalAllocs();
    if (mode == "exit-paths")
        return exitPaths();
    if (mode == "dlopen")
        return dlopenLoop();
    if (mode == "threads")
        return earlyThreads();
    if (mode == "die" && argc == 3)
        return die(argv[2]);
    if (mode == "load" && argc == 4)
        return load(std::atoi(argv[2]), std::atol(argv[3]));
    std::fprintf(stderr, "usage: torture_target fork50|spawn|signal|exit-paths|dlopen|threads|load THREADS N|die segv|abort|_exit|sigkill\n");
    return 2;
}
