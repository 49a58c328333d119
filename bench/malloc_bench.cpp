// A malloc-heavy benchmark for capture overhead: T threads each make M allocation steps (malloc
// 90 %, calloc 5 %, realloc of a live block 5 %; sizes 60 % 16-256 B, 25 % 257 B-4 KiB, 14.5 %
// 4-64 KiB, 0.5 % 1 MiB; fixed seed), each stored in a random slot of a 4096-block window whose
// old occupant is freed. `flat` allocates 3-4 frames below the thread entry from 4 call sites;
// `deep` recurses 20-30 frames along 64 fixed paths through 3 functions, 16 steps per descent.
// Built with frame pointers. Prints events (calls of malloc/calloc/realloc/free) per second, and
// the CPU time of the allocating threads (thread_cpu_s: less disturbed by other load on the
// machine than the elapsed time, for comparing variants).
//
//   tidemark-malloc-bench THREADS STEPS flat|deep
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <pthread.h>
#include <string>

namespace {

constexpr unsigned kWindow = 4096;
constexpr unsigned kStepsPerDescent = 16;

struct Rng {
    uint64_t s;
    uint64_t next()
    {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        return s;
    }
};

struct ThreadCtx {
    pthread_t thread;
    unsigned index;
    uint64_t steps;
    bool deep;
    uint64_t events = 0;
    uint64_t done = 0;
    double cpuSeconds = 0;
    Rng rng { 0 };
    void* slots[kWindow] = {};
    size_t sizes[kWindow] = {};
};

size_t pickSize(Rng& rng)
{
    unsigned r = unsigned(rng.next() % 1000);
    if (r < 600)
        return 16 + rng.next() % 241;
    if (r < 850)
        return 257 + rng.next() % (4096 - 257);
    if (r < 995)
        return 4097 + rng.next() % (65536 - 4097);
    return size_t(1) << 20;
}

// One step: allocate (or realloc a live block), store in a random slot, free its old occupant.
__attribute__((noinline)) void step(ThreadCtx& c, unsigned site)
{
    unsigned kind = unsigned(c.rng.next() % 100);
    unsigned slot = unsigned(c.rng.next() % kWindow);
    size_t size = pickSize(c.rng);
    void* p;
    if (kind < 5 && c.slots[slot]) {
        p = realloc(c.slots[slot], size);
        if (!p)
            std::abort();
        c.slots[slot] = nullptr;
        ++c.events;
    } else {
        p = kind < 10 ? calloc(1, size) : malloc(size);
        ++c.events;
        if (c.slots[slot]) {
            free(c.slots[slot]);
            ++c.events;
        }
    }
    std::memset(p, int(site), size < 64 ? size : 64);
    c.slots[slot] = p;
    c.sizes[slot] = size;
    ++c.done;
}

// Four flat call sites, 3-4 frames below the thread entry.
__attribute__((noinline)) void siteA(ThreadCtx& c) { step(c, 1); }
__attribute__((noinline)) void siteB(ThreadCtx& c) { step(c, 2); }
__attribute__((noinline)) void siteC(ThreadCtx& c) { step(c, 3); }
__attribute__((noinline)) void siteD(ThreadCtx& c) { siteA(c); }

void runFlat(ThreadCtx& c)
{
    while (c.done < c.steps) {
        switch (c.rng.next() & 3) {
        case 0: siteA(c); break;
        case 1: siteB(c); break;
        case 2: siteC(c); break;
        default: siteD(c); break;
        }
    }
}

// Deep: recursion through three functions chosen by the bits of a path number, so 64 paths give
// a few hundred distinct allocation stacks 20-30 frames deep.
__attribute__((noinline)) void descendA(ThreadCtx& c, unsigned path, unsigned depth, unsigned target);
__attribute__((noinline)) void descendB(ThreadCtx& c, unsigned path, unsigned depth, unsigned target);
__attribute__((noinline)) void descendC(ThreadCtx& c, unsigned path, unsigned depth, unsigned target);

void dispatch(ThreadCtx& c, unsigned path, unsigned depth, unsigned target)
{
    if (depth >= target) {
        for (unsigned i = 0; i < kStepsPerDescent && c.done < c.steps; ++i)
            step(c, path & 0xff);
        return;
    }
    switch ((path >> (depth % 6)) % 3) {
    case 0: descendA(c, path, depth + 1, target); break;
    case 1: descendB(c, path, depth + 1, target); break;
    default: descendC(c, path, depth + 1, target); break;
    }
}

void descendA(ThreadCtx& c, unsigned path, unsigned depth, unsigned target)
{
    dispatch(c, path, depth, target);
    asm volatile("" ::: "memory");
}
void descendB(ThreadCtx& c, unsigned path, unsigned depth, unsigned target)
{
    dispatch(c, path, depth, target);
    asm volatile("" ::: "memory");
}
void descendC(ThreadCtx& c, unsigned path, unsigned depth, unsigned target)
{
    dispatch(c, path, depth, target);
    asm volatile("" ::: "memory");
}

void runDeep(ThreadCtx& c)
{
    while (c.done < c.steps) {
        unsigned path = unsigned(c.rng.next() % 64);
        dispatch(c, path * 2654435761u, 0, 20 + path % 11);
    }
}

double threadCpuSeconds()
{
    timespec ts {};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
}

void* threadMain(void* arg)
{
    auto* c = static_cast<ThreadCtx*>(arg);
    double cpu0 = threadCpuSeconds();
    c->rng.s = 0x9E3779B97F4A7C15ull * (c->index + 1);
    if (c->deep)
        runDeep(*c);
    else
        runFlat(*c);
    for (unsigned i = 0; i < kWindow; ++i) {
        if (c->slots[i]) {
            free(c->slots[i]);
            ++c->events;
        }
    }
    c->cpuSeconds = threadCpuSeconds() - cpu0;
    return nullptr;
}

} // namespace

int main(int argc, char** argv)
{
    if (argc != 4 || (std::string(argv[3]) != "flat" && std::string(argv[3]) != "deep")) {
        std::fprintf(stderr, "usage: tidemark-malloc-bench THREADS STEPS flat|deep\n");
        return 2;
    }
    unsigned threads = unsigned(std::strtoul(argv[1], nullptr, 10));
    uint64_t steps = std::strtoull(argv[2], nullptr, 10);
    if (threads < 1 || threads > 64 || steps == 0) {
        std::fprintf(stderr, "tidemark-malloc-bench: THREADS must be 1..64 and STEPS > 0\n");
        return 2;
    }
    bool deep = std::string(argv[3]) == "deep";
    auto* ctx = new ThreadCtx[threads];
    auto t0 = std::chrono::steady_clock::now();
    for (unsigned i = 0; i < threads; ++i) {
        ctx[i].index = i;
        ctx[i].steps = steps;
        ctx[i].deep = deep;
        pthread_create(&ctx[i].thread, nullptr, threadMain, &ctx[i]);
    }
    uint64_t events = 0;
    double cpu = 0;
    for (unsigned i = 0; i < threads; ++i) {
        pthread_join(ctx[i].thread, nullptr);
        events += ctx[i].events;
        cpu += ctx[i].cpuSeconds;
    }
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("threads=%u steps=%llu mode=%s events=%llu seconds=%.3f events_per_s=%.0f thread_cpu_s=%.3f\n",
        threads, (unsigned long long)steps, argv[3], (unsigned long long)events, secs, double(events) / secs, cpu);
    delete[] ctx;
    return 0;
}
