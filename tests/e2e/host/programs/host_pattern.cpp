// A program with a known heap pattern that prints its own ground truth as JSON, for the capture
// tests: several threads, realloc chains, every aligned API, calloc, reallocarray, a peak phase, a
// planted leak in a named noinline function, and modes that fork, exec or wait to be killed.
//
// Every thread brackets its pattern with marker allocations (kMarkBegin/kMarkEnd bytes) and makes
// no other allocation in between, so a test can cut exactly the pattern's events out of a trace.
//
//   host_pattern pattern TRUTH.json   threads + peak + leak
//   host_pattern fork TRUTH.json      pattern in parent and in a forked child
//   host_pattern fork-free TRUTH.json  a forked child frees blocks its parent allocated before the
//                                      fork (a data-loader worker dropping inherited objects)
//   host_pattern exec TRUTH.json      small pattern, then execv(self, exec-after): a second image
//   host_pattern wait READY_FILE      allocates a known set, writes READY_FILE, sleeps until killed
//   host_pattern crash READY_FILE     the same, then dies of SIGSEGV
//   host_pattern underscore-exit TRUTH.json   a small pattern, then _exit(5)
//   host_pattern threads TRUTH.json   64 threads in waves (thread buffers reused)
//   host_pattern dlopen TRUTH.json PLUGIN   allocation inside a dlopen'ed library, then dlclose
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <malloc.h>
#include <pthread.h>
#include <string>
#include <sys/wait.h>
#include <unistd.h>

namespace {

constexpr size_t kMarkBegin = 7777771;
constexpr size_t kMarkEnd = 7777773;
constexpr int kWorkers = 3;
constexpr int kRounds = 200;

struct Tally {
    unsigned long long count[11] = {}; // indexed by tidemark::Api value (1..10)
    unsigned long long bytes[11] = {};
    unsigned long long frees = 0;      // plain free() calls of pattern blocks
};

enum ApiIndex { kMalloc = 1, kCalloc = 2, kRealloc = 3, kPosixMemalign = 4, kAlignedAlloc = 5, kMemalign = 6,
    kValloc = 7, kPvalloc = 8, kReallocarray = 9 };

// Keeps the compiler from eliding allocations whose result is otherwise unused.
void touch(void* p, size_t n)
{
    if (p && n)
        static_cast<volatile char*>(p)[0] = 1;
}

void mark(size_t size)
{
    void* p = malloc(size);
    touch(p, size);
    free(p);
}

void note(Tally& t, int api, size_t bytes)
{
    t.count[api]++;
    t.bytes[api] += bytes;
}

// One round of every API; everything is freed again before the round ends. With dry = true only
// the tally is computed (used to state another image's or process's truth without allocating).
void runRound(Tally& t, int seed, bool dry = false)
{
    size_t a = 24 + size_t(seed % 97) * 8;
    size_t cEach = 40 + size_t(seed % 5);
    note(t, kMalloc, a);
    note(t, kCalloc, 3 * cEach);
    note(t, kRealloc, 64); // realloc chain NULL -> 64 -> 200 -> 1000 -> 40: free(old) + alloc(new)
    note(t, kRealloc, 200);
    note(t, kRealloc, 1000);
    note(t, kRealloc, 40);
    note(t, kReallocarray, 120);
    note(t, kReallocarray, 240);
    note(t, kPosixMemalign, 300);
    note(t, kAlignedAlloc, 512);
    note(t, kMemalign, 777);
    note(t, kValloc, 1500);
    note(t, kPvalloc, 2000);
    t.frees += 9;
    if (dry)
        return;
    void* m = malloc(a);
    touch(m, a);
    void* c = calloc(3, cEach);
    void* r = realloc(nullptr, 64);
    for (size_t n : { size_t(200), size_t(1000), size_t(40) }) {
        r = realloc(r, n);
        touch(r, n);
    }
    void* ra = reallocarray(nullptr, 10, 12);
    ra = reallocarray(ra, 20, 12);
    void* pm = nullptr;
    if (posix_memalign(&pm, 64, 300) != 0)
        std::abort();
    void* aa = aligned_alloc(128, 512);
    void* ma = memalign(256, 777);
    void* va = valloc(1500);
    void* pv = pvalloc(2000);
    for (void* p : { m, c, r, ra, pm, aa, ma, va, pv })
        free(p);
    free(nullptr); // ignored by the capture: no event
}

struct Worker {
    pthread_t thread;
    Tally tally;
    int index;
};

void* workerMain(void* arg)
{
    auto* w = static_cast<Worker*>(arg);
    char name[16];
    std::snprintf(name, sizeof(name), "tm-worker-%d", w->index);
    pthread_setname_np(pthread_self(), name);
    mark(kMarkBegin);
    for (int i = 0; i < kRounds; ++i)
        runRound(w->tally, i + w->index * 1000);
    mark(kMarkEnd);
    return nullptr;
}

} // namespace

// The planted leak: these blocks are never freed. noinline + a distinctive name so a test can find
// the frame in a stack and the name in the symbols.
extern "C" __attribute__((noinline)) void* tidemark_test_planted_leak(size_t bytes)
{
    void* p = malloc(bytes);
    touch(p, bytes);
    asm volatile("" ::: "memory"); // keep the call from becoming a tail call
    return p;
}

namespace {

constexpr size_t kLeakBlock = 12345;
constexpr int kLeakBlocks = 3;
constexpr size_t kPeakBlock = 1 << 20;
constexpr int kPeakBlocks = 24;

std::string tallyJson(const Tally& t)
{
    static const char* const names[11] = { "", "malloc", "calloc", "realloc", "posix_memalign", "aligned_alloc",
        "memalign", "valloc", "pvalloc", "reallocarray", "free" };
    std::string s = "{";
    for (int i = 1; i <= 9; ++i) {
        char buf[160];
        std::snprintf(buf, sizeof(buf), "%s\"%s\": {\"count\": %llu, \"bytes\": %llu}", i > 1 ? ", " : "", names[i],
            t.count[i], t.bytes[i]);
        s += buf;
    }
    char buf[64];
    std::snprintf(buf, sizeof(buf), ", \"frees\": %llu}", t.frees);
    return s + buf;
}

void add(Tally& into, const Tally& t)
{
    for (int i = 0; i < 11; ++i) {
        into.count[i] += t.count[i];
        into.bytes[i] += t.bytes[i];
    }
    into.frees += t.frees;
}

// The main thread's pattern: worker threads, then alone a peak phase and the planted leak.
// Returns the main thread's tally; fills the workers' tallies into total.
Tally runPattern(Tally& total, int workers, unsigned long long* peakBytes, unsigned long long* leakBytes)
{
    Worker w[kWorkers];
    for (int i = 0; i < workers; ++i) {
        w[i].index = i + 1;
        pthread_create(&w[i].thread, nullptr, workerMain, &w[i]);
    }
    for (int i = 0; i < workers; ++i) {
        pthread_join(w[i].thread, nullptr);
        add(total, w[i].tally);
    }
    Tally main;
    mark(kMarkBegin);
    void* leaks[kLeakBlocks];
    for (int i = 0; i < kLeakBlocks; ++i) {
        leaks[i] = tidemark_test_planted_leak(kLeakBlock);
        note(main, kMalloc, kLeakBlock);
    }
    void* big[kPeakBlocks];
    for (int i = 0; i < kPeakBlocks; ++i) {
        big[i] = malloc(kPeakBlock);
        std::memset(big[i], i, kPeakBlock);
        note(main, kMalloc, kPeakBlock);
    }
    for (int i = 0; i < kPeakBlocks; ++i) {
        free(big[i]);
        main.frees++;
    }
    runRound(main, 7);
    mark(kMarkEnd);
    // Pattern-only peak: the leak blocks plus all big blocks (worker rounds free everything and
    // ran before; marker blocks are freed at once and are smaller than the peak phase).
    *peakBytes = kLeakBlocks * kLeakBlock + (unsigned long long)kPeakBlocks * kPeakBlock;
    *leakBytes = kLeakBlocks * kLeakBlock;
    (void)leaks;
    add(total, main);
    return main;
}

int writeTruth(const char* path, const std::string& json)
{
    FILE* f = std::fopen(path, "w");
    if (!f) {
        std::fprintf(stderr, "host_pattern: cannot write %s\n", path);
        return 2;
    }
    std::fputs(json.c_str(), f);
    std::fclose(f);
    return 0;
}

std::string patternJson(const char* mode, int workers, const Tally& total, unsigned long long peak,
    unsigned long long leak)
{
    char buf[512];
    std::snprintf(buf, sizeof(buf),
        "\"mode\": \"%s\", \"pid\": %d, \"threads_with_pattern\": %d, \"mark_begin\": %zu, \"mark_end\": %zu, "
        "\"peak_bytes\": %llu, \"leak_bytes\": %llu, \"leak_blocks\": %d, \"leak_function\": "
        "\"tidemark_test_planted_leak\", \"leak_function_address\": %llu, ",
        mode, int(getpid()), workers + 1, kMarkBegin, kMarkEnd, peak, leak, kLeakBlocks,
        (unsigned long long)(uintptr_t)&tidemark_test_planted_leak);
    return std::string(buf) + "\"apis\": " + tallyJson(total);
}

int modePattern(const char* truthPath)
{
    Tally total;
    unsigned long long peak = 0, leak = 0;
    runPattern(total, kWorkers, &peak, &leak);
    return writeTruth(truthPath, "{" + patternJson("pattern", kWorkers, total, peak, leak) + "}\n");
}

// The child's pattern: one round per API, a 4 KiB leak, exit(0) so atexit/destructors run.
Tally childPattern(bool dry = false)
{
    Tally t;
    if (!dry)
        mark(kMarkBegin);
    for (int i = 0; i < 10; ++i)
        runRound(t, 50 + i, dry);
    note(t, kMalloc, 4096);
    if (!dry) {
        void* leak = malloc(4096);
        touch(leak, 4096);
        mark(kMarkEnd);
    }
    return t;
}

int modeFork(const char* truthPath)
{
    Tally total;
    unsigned long long peak = 0, leak = 0;
    runPattern(total, 1, &peak, &leak);
    pid_t child = fork();
    if (child == 0) {
        childPattern();
        std::exit(0);
    }
    int status = 0;
    waitpid(child, &status, 0);
    Tally childTally = childPattern(true);
    char buf[128];
    std::snprintf(buf, sizeof(buf), ", \"child_pid\": %d, \"child_status\": %d, \"child_leak_bytes\": 4096, ", int(child),
        WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    return writeTruth(truthPath, "{" + patternJson("fork", 1, total, peak, leak) + buf + "\"child_apis\": "
            + tallyJson(childTally) + "}\n");
}

int modeForkFree(const char* truthPath)
{
    constexpr int kInherited = 64;
    void* blocks[kInherited];
    unsigned long long bytes = 0;
    for (int i = 0; i < kInherited; ++i) {
        blocks[i] = malloc(100 + size_t(i));
        touch(blocks[i], 1);
        bytes += 100 + size_t(i);
    }
    pid_t child = fork();
    if (child == 0) {
        for (void* b : blocks) // the child's copies of the parent's blocks
            free(b);
        void* own = malloc(4096); // and a block of its own, freed too
        touch(own, 1);
        free(own);
        std::exit(0);
    }
    int status = 0;
    waitpid(child, &status, 0);
    for (void* b : blocks)
        free(b);
    char buf[256];
    std::snprintf(buf, sizeof(buf),
        "{\"pid\": %d, \"child_pid\": %d, \"child_status\": %d, \"inherited_frees\": %d, \"inherited_bytes\": %llu}\n",
        int(getpid()), int(child), WIFEXITED(status) ? WEXITSTATUS(status) : -1, kInherited, bytes);
    return writeTruth(truthPath, buf);
}

int modeExec(const char* self, const char* truthPath)
{
    Tally before = childPattern();
    (void)before;
    char* argv[] = { const_cast<char*>(self), const_cast<char*>("exec-after"), const_cast<char*>(truthPath), nullptr };
    execv("/proc/self/exe", argv);
    std::fprintf(stderr, "host_pattern: execv failed: %s\n", std::strerror(errno));
    return 3;
}

int modeExecAfter(const char* truthPath)
{
    Tally total;
    unsigned long long peak = 0, leak = 0;
    runPattern(total, 1, &peak, &leak);
    Tally first = childPattern(true); // what the first image did before its execv
    return writeTruth(truthPath, "{" + patternJson("exec", 1, total, peak, leak) + ", \"first_image_apis\": "
            + tallyJson(first) + "}\n");
}

int modeWait(const char* readyPath)
{
    mark(kMarkBegin);
    for (int i = 0; i < 1000; ++i)
        touch(malloc(1000 + size_t(i)), 1); // 1000 live blocks, sum 1000*1000 + 499500
    mark(kMarkEnd);
    FILE* f = std::fopen(readyPath, "w");
    if (f) {
        std::fputs("{\"count\": 1000, \"bytes\": 1499500}\n", f);
        std::fclose(f);
    }
    for (;;)
        pause();
}

// Like wait, but crashes with SIGSEGV 500 ms after the pattern (the drain runs every 5 ms; the
// slack is for a loaded machine, where the drain thread may wait long for a CPU).
int modeCrash(const char* readyPath)
{
    mark(kMarkBegin);
    for (int i = 0; i < 1000; ++i)
        touch(malloc(1000 + size_t(i)), 1);
    mark(kMarkEnd);
    FILE* f = std::fopen(readyPath, "w");
    if (f) {
        std::fputs("{\"count\": 1000, \"bytes\": 1499500}\n", f);
        std::fclose(f);
    }
    usleep(500000);
    volatile int* null = nullptr;
    *null = 1;
    return 0;
}

// 64 threads in 4 waves of 16, each with 5 rounds: thread buffers are created, retired and reused.
int modeThreads(const char* truthPath)
{
    constexpr int kWaves = 4, kPerWave = 16;
    Tally total;
    for (int wave = 0; wave < kWaves; ++wave) {
        static Worker w[kPerWave];
        for (int i = 0; i < kPerWave; ++i) {
            w[i] = Worker {};
            w[i].index = 100 + wave * kPerWave + i;
            pthread_create(&w[i].thread, nullptr, [](void* arg) -> void* {
                auto* self = static_cast<Worker*>(arg);
                mark(kMarkBegin);
                for (int r = 0; r < 5; ++r)
                    runRound(self->tally, r + self->index);
                mark(kMarkEnd);
                return nullptr;
            }, &w[i]);
        }
        for (int i = 0; i < kPerWave; ++i) {
            pthread_join(w[i].thread, nullptr);
            add(total, w[i].tally);
        }
    }
    return writeTruth(truthPath, "{\"pid\": " + std::to_string(getpid()) + ", \"threads_with_pattern\": "
            + std::to_string(kWaves * kPerWave) + ", \"apis\": " + tallyJson(total) + "}\n");
}

// dlopen a plugin, allocate 4242 bytes inside it (kept live), dlclose it.
int modeDlopen(const char* truthPath, const char* plugin)
{
    void* h = dlopen(plugin, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        std::fprintf(stderr, "host_pattern: dlopen %s: %s\n", plugin, dlerror());
        return 3;
    }
    auto fn = reinterpret_cast<void* (*)(size_t)>(dlsym(h, "tidemark_test_plugin_alloc"));
    mark(kMarkBegin);
    void* p = fn(4242);
    touch(p, 4242);
    mark(kMarkEnd);
    dlclose(h);
    return writeTruth(truthPath, "{\"pid\": " + std::to_string(getpid()) + ", \"plugin_bytes\": 4242}\n");
}

// The child pattern, its truth, then _exit(5): no atexit handlers, no destructors.
int modeUnderscoreExit(const char* truthPath)
{
    Tally t = childPattern();
    writeTruth(truthPath, "{\"pid\": " + std::to_string(getpid()) + ", \"apis\": " + tallyJson(t) + "}\n");
    _exit(5);
}

} // namespace

int main(int argc, char** argv)
{
    if (argc < 3) {
        std::fprintf(stderr, "usage: host_pattern pattern|fork|exec|wait FILE\n");
        return 2;
    }
    std::string mode = argv[1];
    if (mode == "pattern")
        return modePattern(argv[2]);
    if (mode == "fork")
        return modeFork(argv[2]);
    if (mode == "fork-free")
        return modeForkFree(argv[2]);
    if (mode == "exec")
        return modeExec(argv[0], argv[2]);
    if (mode == "exec-after")
        return modeExecAfter(argv[2]);
    if (mode == "wait")
        return modeWait(argv[2]);
    if (mode == "crash")
        return modeCrash(argv[2]);
    if (mode == "threads")
        return modeThreads(argv[2]);
    if (mode == "dlopen" && argc >= 4)
        return modeDlopen(argv[2], argv[3]);
    if (mode == "underscore-exit")
        return modeUnderscoreExit(argv[2]);
    std::fprintf(stderr, "host_pattern: unknown mode %s\n", argv[1]);
    return 2;
}
