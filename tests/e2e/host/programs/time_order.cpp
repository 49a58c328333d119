// Ground truth for heap event timestamps, which the capture library may take without reading the
// clock while no other thread records anything (interposer/runtime.h, eventNowNs):
//
//   time_order pause     a burst of 2000 allocations, then one block (kPauseBlock bytes) lives
//                        across a 50 ms sleep: its recorded lifetime must show the sleep.
//   time_order handoff   two threads hand bursts of blocks to each other through a mutex; each
//                        frees what the other allocated, so addresses move between threads all
//                        the time. In timestamp order, every address must go alloc, free, alloc,
//                        free... whichever thread recorded each event.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <pthread.h>
#include <unistd.h>
#include <vector>

namespace {

constexpr size_t kPauseBlock = 777001;
constexpr int kBurst = 100;
constexpr int kRounds = 300;

void* volatile g_sink;

int pauseMode()
{
    usleep(20000); // past the capture library's start-up records
    std::vector<void*> burst;
    for (int i = 0; i < 2000; ++i)
        burst.push_back(std::malloc(32 + i % 64));
    void* block = std::malloc(kPauseBlock);
    g_sink = block;
    usleep(50000);
    std::free(block);
    for (void* p : burst)
        std::free(p);
    return 0;
}

struct Exchange {
    std::mutex lock;
    std::vector<void*> toA, toB;
};

// Allocates a burst for the peer, then frees whatever the peer handed over.
void work(Exchange& x, std::vector<void*>& mine, std::vector<void*>& theirs, unsigned seed)
{
    for (int round = 0; round < kRounds; ++round) {
        std::vector<void*> burst;
        for (int i = 0; i < kBurst; ++i) {
            seed = seed * 1103515245u + 12345u;
            burst.push_back(std::malloc(16 + (seed >> 16) % 2000));
        }
        std::vector<void*> received;
        {
            std::lock_guard<std::mutex> g(x.lock);
            theirs.insert(theirs.end(), burst.begin(), burst.end());
            received.swap(mine);
        }
        for (void* p : received)
            std::free(p);
    }
}

Exchange g_exchange;

void* threadB(void*)
{
    work(g_exchange, g_exchange.toB, g_exchange.toA, 7);
    return nullptr;
}

int handoff()
{
    pthread_t b;
    if (pthread_create(&b, nullptr, threadB, nullptr) != 0)
        return 1;
    work(g_exchange, g_exchange.toA, g_exchange.toB, 3);
    pthread_join(b, nullptr);
    for (void* p : g_exchange.toA)
        std::free(p);
    for (void* p : g_exchange.toB)
        std::free(p);
    return 0;
}

} // namespace

int main(int argc, char** argv)
{
    if (argc == 2 && std::strcmp(argv[1], "pause") == 0)
        return pauseMode();
    if (argc == 2 && std::strcmp(argv[1], "handoff") == 0)
        return handoff();
    std::fprintf(stderr, "usage: time_order pause|handoff\n");
    return 2;
}
