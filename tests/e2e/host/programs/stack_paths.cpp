// Ground truth for the exactness of captured stacks: two threads (main and one worker) allocate from
// ever-changing call paths (recursion 2-40 deep through three functions, malloc/calloc/realloc
// from different sites, an extra helper frame or an alloca'd frame of random size now and then), so
// consecutive stacks share long, short or no outer parts, as the capture library's reuse of the
// previous stack must handle. Every allocation has a size no other has; right before it, the
// allocating function asks glibc's backtrace() (libgcc's DWARF unwinder, independent of tidemark's
// walkers) for its callers and writes them to the truth file. Built twice: with and without frame
// pointers. In the signal modes only a signal handler allocates, interrupting a non-allocating
// recursion at random points (on the thread's stack, or on an alternate signal stack).
//
// In library mode the threads' recursion also passes through libtm_stack_lib.so (no frame pointers).
//
//   stack_paths TRUTH.txt [threads|library|signal|altstack]
//                             lines: "exe LO HI" (this program's text), "site ADDR" (where the
//                             allocating function starts), then "a SIZE IP0 IP1 ..." where IP0 is
//                             the return address of the backtrace() call itself
#include <alloca.h>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <execinfo.h>
#include <link.h>
#include <pthread.h>
#include <csignal>
#include <cstring>
#include <sys/time.h>

extern "C" void tm_stack_lib_through(void (*next)(void*, unsigned, unsigned), void* ctx, unsigned path, unsigned depth);

namespace {

constexpr unsigned kAllocsPerThread = 3000;
constexpr int kMaxFrames = 100;

struct Ctx {
    unsigned thread;
    uint64_t rng;
    unsigned made = 0;
    void* keep = nullptr; // one live block, so realloc has something to move
    char* text = nullptr; // this thread's truth lines
    size_t used = 0, capacity = 0;
};

uint64_t nextRandom(Ctx& c)
{
    c.rng ^= c.rng << 13;
    c.rng ^= c.rng >> 7;
    c.rng ^= c.rng << 17;
    return c.rng;
}

void append(Ctx& c, const char* s, size_t n)
{
    if (c.used + n > c.capacity) {
        c.capacity = (c.capacity + n) * 2;
        c.text = static_cast<char*>(std::realloc(c.text, c.capacity));
    }
    std::memcpy(c.text + c.used, s, n);
    c.used += n;
}

// Unique per allocation: the two threads use disjoint ranges, away from anything libc allocates.
size_t uniqueSize(const Ctx& c) { return 100000 + c.thread * 20000 + c.made; }

void recordTruth(Ctx& c, size_t size, void* const* frames, int n)
{
    char line[64];
    append(c, line, size_t(std::snprintf(line, sizeof(line), "a %zu", size)));
    for (int i = 0; i < n; ++i)
        append(c, line, size_t(std::snprintf(line, sizeof(line), " %lx", reinterpret_cast<unsigned long>(frames[i]))));
    append(c, "\n", 1);
}

uintptr_t g_text[2] = { 0, 0 }; // this program's executable segment, found before anything runs

// The allocating function: backtrace() and the allocation are made from the same activation, so
// frames 1.. of the backtrace are the callers the allocation's stack must show. In a build with
// AddressSanitizer, backtrace() is its interceptor, whose frame comes first: frames before the first
// one in this program are not the callers and are left out.
__attribute__((noinline)) void allocate(Ctx& c, unsigned kind)
{
    void* all[kMaxFrames];
    int n = backtrace(all, kMaxFrames);
    void** frames = all;
    auto inProgram = [](void* ip) {
        return reinterpret_cast<uintptr_t>(ip) >= g_text[0] && reinterpret_cast<uintptr_t>(ip) < g_text[1];
    };
    while (n > 0 && !inProgram(frames[0])) {
        ++frames;
        --n;
    }
    size_t size = uniqueSize(c);
    ++c.made;
    void* p;
    if (kind == 0) {
        p = std::malloc(size);
    } else if (kind == 1) {
        p = std::calloc(1, size);
    } else {
        p = std::realloc(c.keep, size);
        c.keep = nullptr;
    }
    recordTruth(c, size, frames, n);
    if (c.keep)
        std::free(c.keep);
    c.keep = p;
    asm volatile("" ::: "memory");
}

__attribute__((noinline)) void viaHelper(Ctx& c, unsigned kind)
{
    allocate(c, kind);
    asm volatile("" ::: "memory");
}

__attribute__((noinline)) void viaAlloca(Ctx& c, unsigned kind, size_t pad)
{
    volatile char* scratch = static_cast<char*>(alloca(pad));
    scratch[0] = 1;
    allocate(c, kind);
    asm volatile("" ::: "memory");
}

// 1-4 allocations from the same leaf, each through one of three routes.
__attribute__((noinline)) void leaf(Ctx& c)
{
    unsigned count = 1 + unsigned(nextRandom(c) % 4);
    for (unsigned i = 0; i < count && c.made < kAllocsPerThread; ++i) {
        unsigned kind = unsigned(nextRandom(c) % 3);
        switch (nextRandom(c) % 4) {
        case 0: viaHelper(c, kind); break;
        case 1: viaAlloca(c, kind, 16 + nextRandom(c) % 512); break;
        default: allocate(c, kind); break;
        }
    }
}

__attribute__((noinline)) void downA(Ctx& c, unsigned path, unsigned depth);
__attribute__((noinline)) void downB(Ctx& c, unsigned path, unsigned depth);
__attribute__((noinline)) void downC(Ctx& c, unsigned path, unsigned depth);

bool g_throughLibrary = false; // "library" mode

void downThunk(void* c, unsigned path, unsigned depth);

void down(Ctx& c, unsigned path, unsigned depth)
{
    if (depth == 0) {
        leaf(c);
        return;
    }
    if (g_throughLibrary && (path >> (depth % 5)) % 4 == 3) {
        tm_stack_lib_through(downThunk, &c, path, depth - 1);
        return;
    }
    switch ((path >> (depth % 7)) % 3) {
    case 0: downA(c, path, depth - 1); break;
    case 1: downB(c, path, depth - 1); break;
    default: downC(c, path, depth - 1); break;
    }
}

void downThunk(void* c, unsigned path, unsigned depth)
{
    down(*static_cast<Ctx*>(c), path, depth);
    asm volatile("" ::: "memory");
}

void downA(Ctx& c, unsigned path, unsigned depth)
{
    down(c, path, depth);
    asm volatile("" ::: "memory");
}
void downB(Ctx& c, unsigned path, unsigned depth)
{
    down(c, path * 3 + 1, depth);
    asm volatile("" ::: "memory");
}
void downC(Ctx& c, unsigned path, unsigned depth)
{
    down(c, path ^ 0x55, depth);
    asm volatile("" ::: "memory");
}

void* run(void* arg)
{
    auto* c = static_cast<Ctx*>(arg);
    c->capacity = size_t(8) << 20; // no growth (and no allocation of another size) during the run
    c->text = static_cast<char*>(std::malloc(c->capacity));
    while (c->made < kAllocsPerThread) {
        unsigned path = unsigned(nextRandom(*c));
        // Often the same depth as before (frames at the same addresses, other return addresses).
        unsigned depth = 2 + unsigned(nextRandom(*c) % 39);
        down(*c, path, depth);
    }
    std::free(c->keep);
    return nullptr;
}

// Signal modes: the handler makes every allocation, from whatever point it interrupted.
Ctx* g_signalCtx = nullptr;

void onSignal(int)
{
    Ctx& c = *g_signalCtx;
    if (c.made < kAllocsPerThread)
        allocate(c, unsigned(nextRandom(c) % 3));
}

__attribute__((noinline)) void spinA(Ctx& c, unsigned path, unsigned depth);
__attribute__((noinline)) void spinB(Ctx& c, unsigned path, unsigned depth);
__attribute__((noinline)) void spinC(Ctx& c, unsigned path, unsigned depth);

// Waits, without allocating, until the handler has made one more allocation.
__attribute__((noinline)) void spinLeaf(Ctx& c)
{
    volatile unsigned* made = &c.made;
    unsigned target = *made + 1;
    for (uint64_t guard = 0; *made < target && guard < (uint64_t(1) << 32); ++guard)
        asm volatile("" ::: "memory");
}

void spin(Ctx& c, unsigned path, unsigned depth)
{
    if (depth == 0) {
        spinLeaf(c);
        return;
    }
    switch ((path >> (depth % 7)) % 3) {
    case 0: spinA(c, path, depth - 1); break;
    case 1: spinB(c, path, depth - 1); break;
    default: spinC(c, path, depth - 1); break;
    }
}
void spinA(Ctx& c, unsigned path, unsigned depth)
{
    spin(c, path, depth);
    asm volatile("" ::: "memory");
}
void spinB(Ctx& c, unsigned path, unsigned depth)
{
    spin(c, path * 5 + 3, depth);
    asm volatile("" ::: "memory");
}
void spinC(Ctx& c, unsigned path, unsigned depth)
{
    spin(c, path ^ 0x33, depth);
    asm volatile("" ::: "memory");
}

void runSignals(Ctx& c, bool altStack)
{
    c.capacity = size_t(8) << 20;
    c.text = static_cast<char*>(std::malloc(c.capacity));
    static char signalStack[256 * 1024];
    if (altStack) {
        stack_t ss {};
        ss.ss_sp = signalStack;
        ss.ss_size = sizeof(signalStack);
        sigaltstack(&ss, nullptr);
    }
    g_signalCtx = &c;
    struct sigaction sa {};
    sa.sa_handler = onSignal;
    sa.sa_flags = SA_RESTART | (altStack ? SA_ONSTACK : 0);
    sigaction(SIGALRM, &sa, nullptr);
    itimerval every { { 0, 100 }, { 0, 100 } };
    setitimer(ITIMER_REAL, &every, nullptr);
    // Each allocation comes at some random point of a new random recursion.
    while (*static_cast<volatile unsigned*>(&c.made) < kAllocsPerThread) {
        unsigned path = unsigned(nextRandom(c));
        spin(c, path, 2 + unsigned(nextRandom(c) % 30));
    }
    itimerval off {};
    setitimer(ITIMER_REAL, &off, nullptr);
    std::free(c.keep);
}

int findExe(dl_phdr_info* info, size_t, void* data)
{
    auto* range = static_cast<uintptr_t*>(data);
    for (int i = 0; i < info->dlpi_phnum; ++i) {
        const ElfW(Phdr)& ph = info->dlpi_phdr[i];
        if (ph.p_type == PT_LOAD && (ph.p_flags & PF_X)) {
            range[0] = info->dlpi_addr + ph.p_vaddr;
            range[1] = range[0] + ph.p_memsz;
        }
    }
    return 1; // the first object is the program itself
}

} // namespace

int main(int argc, char** argv)
{
    const char* mode = argc == 3 ? argv[2] : "threads";
    if ((argc != 2 && argc != 3)
        || (std::strcmp(mode, "threads") && std::strcmp(mode, "library") && std::strcmp(mode, "signal")
            && std::strcmp(mode, "altstack"))) {
        std::fprintf(stderr, "usage: stack_paths TRUTH.txt [threads|library|signal|altstack]\n");
        return 2;
    }
    void* warm[4];
    backtrace(warm, 4); // loads libgcc_s now, not in the middle of a recorded allocation
    dl_iterate_phdr(findExe, g_text);
    Ctx main { 0, 0x9E3779B97F4A7C15ull };
    Ctx worker { 1, 0xC2B2AE3D27D4EB4Full };
    g_throughLibrary = std::strcmp(mode, "library") == 0;
    if (std::strcmp(mode, "threads") == 0 || g_throughLibrary) {
        pthread_t thread;
        if (pthread_create(&thread, nullptr, run, &worker) != 0)
            return 1;
        run(&main);
        pthread_join(thread, nullptr);
    } else {
        runSignals(main, std::strcmp(mode, "altstack") == 0);
    }
    FILE* out = std::fopen(argv[1], "w");
    if (!out)
        return 1;
    std::fprintf(out, "exe %lx %lx\n", static_cast<unsigned long>(g_text[0]), static_cast<unsigned long>(g_text[1]));
    std::fprintf(out, "site %lx\n", reinterpret_cast<unsigned long>(&allocate));
    std::fwrite(main.text, 1, main.used, out);
    std::fwrite(worker.text, 1, worker.used, out);
    std::fclose(out);
    std::free(main.text);
    std::free(worker.text);
    return 0;
}
