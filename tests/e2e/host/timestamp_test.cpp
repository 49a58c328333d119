// Heap event timestamps stay exact in order and close in time although a thread reads the clock
// only every few events while no other thread records (interposer/runtime.h, eventNowNs):
// addresses handed between two threads replay alloc/free/alloc/... in timestamp order, and a
// block that lives across a 50 ms sleep gets a lifetime that shows the sleep.
#include "spool_summary.h"

#include "trace/spool_reader.h"
#include "trace/wire.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace wire = tidemark::wire;

namespace {

struct HeapEvent {
    uint64_t ts;
    uint64_t order; // file order, for equal timestamps
    uint64_t address;
    uint64_t size; // 0 for a free
    uint32_t tid;
    bool alloc;
};

struct Recorded {
    std::vector<HeapEvent> events;
    std::map<std::string, uint64_t> stats;
};

Recorded record(const char* mode)
{
    char tmpl[] = "/tmp/tidemark-time-XXXXXX";
    std::string spool = mkdtemp(tmpl) ? tmpl : "";
    pid_t pid = fork();
    if (pid == 0) {
        setenv("LD_PRELOAD", TIDEMARK_PRELOAD_PATH, 1);
        setenv("TIDEMARK_SPOOL_DIR", spool.c_str(), 1);
        execl(TIDEMARK_TIME_ORDER, TIDEMARK_TIME_ORDER, mode, static_cast<char*>(nullptr));
        _exit(127);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
    Recorded run;
    uint64_t order = 0;
    for (const std::string& file : tidemark::test::spoolFilesIn(spool)) {
        auto reader = tidemark::trace::SpoolReader::open(file);
        EXPECT_TRUE(reader.ok()) << file;
        if (!reader.ok())
            continue;
        reader.value().forEach([&](uint32_t tid, const wire::RecordHeader& h) {
            if (h.kind == uint16_t(wire::Kind::HostAlloc)) {
                const auto& a = reinterpret_cast<const wire::HostAllocRecord&>(h);
                run.events.push_back({ a.ts_ns, order++, a.address, a.size, tid, true });
            } else if (h.kind == uint16_t(wire::Kind::HostFree)) {
                const auto& f = reinterpret_cast<const wire::HostFreeRecord&>(h);
                run.events.push_back({ f.ts_ns, order++, f.address, 0, tid, false });
            }
        });
        tidemark::test::SpoolSummary summary;
        std::string error;
        if (tidemark::test::summarizeSpool(file, summary, error))
            for (const auto& [name, value] : summary.stats)
                run.stats[name] += value;
    }
    return run;
}

TEST(HostTimestamps, AddressesHandedBetweenThreadsReplayInTimestampOrder)
{
    Recorded run = record("handoff");
    std::sort(run.events.begin(), run.events.end(),
        [](const HeapEvent& a, const HeapEvent& b) { return a.ts != b.ts ? a.ts < b.ts : a.order < b.order; });
    std::map<uint64_t, uint32_t> liveBy; // address -> thread that allocated it
    std::map<uint32_t, uint64_t> lastTs;
    uint64_t crossThreadFrees = 0, misordered = 0, backwards = 0;
    for (const HeapEvent& e : run.events) {
        backwards += lastTs.count(e.tid) && lastTs[e.tid] >= e.ts;
        lastTs[e.tid] = e.ts;
        auto it = liveBy.find(e.address);
        if (e.alloc) {
            misordered += it != liveBy.end(); // allocated again before its free
            liveBy[e.address] = e.tid;
        } else if (it == liveBy.end()) {
            ++misordered; // freed before its allocation
        } else {
            crossThreadFrees += it->second != e.tid;
            liveBy.erase(it);
        }
    }
    EXPECT_EQ(misordered, 0u);
    EXPECT_EQ(backwards, 0u); // every thread's timestamps strictly increase
    EXPECT_GT(crossThreadFrees, 2u * 300 * 100 / 2); // the program really moved blocks across
    EXPECT_GT(run.events.size(), 4u * 300 * 100);
    std::printf("handoff: %zu heap events, %llu clock reads\n", run.events.size(),
        static_cast<unsigned long long>(run.stats["heap_clock_reads"]));
}

TEST(HostTimestamps, APauseBetweenTwoEventsShowsInTheirTimestamps)
{
    Recorded run = record("pause");
    const HeapEvent* alloc = nullptr;
    const HeapEvent* free = nullptr;
    for (const HeapEvent& e : run.events) {
        if (e.alloc && e.size == 777001)
            alloc = &e;
        else if (!e.alloc && alloc && e.address == alloc->address && !free)
            free = &e;
    }
    ASSERT_TRUE(alloc && free);
    EXPECT_GE(free->ts - alloc->ts, 45'000'000u); // slept 50 ms
    EXPECT_LT(free->ts - alloc->ts, 5'000'000'000u);
    // The burst before it did go without reading the clock for most events (so the sleep was
    // seen through the drain pass, not through a clock read the burst would have made anyway).
    EXPECT_LT(run.stats["heap_clock_reads"] * 4, run.events.size());
}

} // namespace
