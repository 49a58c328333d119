// Load: 16 threads × 1 million allocations (and as many frees) at once, the program at full speed.
// Every event is accounted for: each of the 16 M allocations of the program's marked sizes is a row,
// each freed; the capture library counted every record it wrote and the collector read as many; no
// record was dropped. Prints the figures that docs/reliability.md quotes.
#include "tests/e2e/shell.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <unistd.h>

using tidemark::test::shell;

namespace {

const std::string kCli = TIDEMARK_CLI_PATH;
const std::string kTarget = TIDEMARK_TORTURE_PATH;
const std::string kLinkedTarget = TIDEMARK_TORTURE_LINKED_PATH; // carries the capture code itself

std::map<std::string, long long> stats(const std::string& rec)
{
    auto q = shell("sqlite3 -separator ' ' " + rec + " \"SELECT source || '.' || name, value FROM capture_stats\"");
    EXPECT_EQ(q.status, 0) << q.out;
    std::map<std::string, long long> out;
    std::istringstream in(q.out);
    std::string name;
    long long value = 0;
    while (in >> name >> value)
        out[name] += value;
    return out;
}

// Records `target load THREADS PER_THREAD` and checks that every allocation and free is there.
void expectEveryAllocationRecorded(const std::string& target, long long threads, long long perThread)
{
    const std::string rec = std::string(::testing::TempDir()) + "/tm_load_" + std::to_string(getpid()) + ".tmdb";
    std::filesystem::remove(rec);
    const std::string args = " load " + std::to_string(threads) + " " + std::to_string(perThread);
    auto t0 = std::chrono::steady_clock::now();
    auto bare = shell(target + args);
    auto t1 = std::chrono::steady_clock::now();
    auto r = shell(tidemark::test::recordCommand(kCli) + " -o " + rec + " -- " + target + args + " 2>/dev/null");
    auto t2 = std::chrono::steady_clock::now();
    ASSERT_EQ(bare.status, 0) << bare.out;
    ASSERT_EQ(r.status, 0) << r.out;
    EXPECT_EQ(bare.out, r.out);
    const long long expected = threads * perThread;
    ASSERT_NE(r.out.find("expect " + std::to_string(expected)), std::string::npos) << r.out;

    auto q = shell("sqlite3 -separator ' ' " + rec
        + " 'SELECT count(*), sum(free_ts_ns IS NOT NULL), count(DISTINCT thread_id) FROM allocations "
          "WHERE size_bytes BETWEEN 7001 AND 7016; SELECT value FROM meta WHERE key = \"cut_short\"'");
    ASSERT_EQ(q.status, 0) << q.out;
    std::istringstream in(q.out);
    long long rows = -1, freed = -1, threadIds = -1, cutShort = -1;
    in >> rows >> freed >> threadIds >> cutShort;
    EXPECT_EQ(rows, expected) << "allocations of the marked sizes in the recording";
    EXPECT_EQ(freed, expected) << "of them freed";
    EXPECT_EQ(threadIds, threads);
    EXPECT_EQ(cutShort, 0);

    auto s = stats(rec);
    EXPECT_EQ(s["preload.dropped"], 0) << "records dropped by the capture library";
    EXPECT_GE(s["preload.events"], 2 * expected);
    EXPECT_EQ(s["collector.bad_records"], 0);
    EXPECT_EQ(s["collector.unmatched_frees"], 0);
    // Every record the capture library put in a thread's buffer was read, with the few it writes
    // directly (process, modules).
    EXPECT_GE(s["collector.records"], s["preload.events"]);
    EXPECT_LE(s["collector.records"], s["preload.events"] + 1000);

    auto seconds = [](auto a, auto b) { return std::chrono::duration<double>(b - a).count(); };
    std::printf("load: %lld allocations, bare %.2f s, whole record %.2f s, %lld ring waits, %lld self drains, "
                "recording %.0f MB\n",
        expected, seconds(t0, t1), seconds(t1, t2), s["preload.ring_waits"], s["preload.self_drains"],
        std::filesystem::file_size(rec) / 1e6);
    std::filesystem::remove(rec);
}

TEST(Load, SixteenThreadsOfAMillionAllocationsEachAreAllAccountedFor)
{
    if (shell("command -v sqlite3 >/dev/null").status != 0)
        GTEST_SKIP() << "the sqlite3 shell is needed";
    // scripts/sanitize.sh runs it smaller under ThreadSanitizer (TIDEMARK_LOAD_PER_THREAD).
    const char* per = std::getenv("TIDEMARK_LOAD_PER_THREAD");
    expectEveryAllocationRecorded(kTarget, 16, per ? std::atoll(per) : 1'000'000);
}

// A program that carries the capture code (linked in) while record preloads libtidemark.so too: the
// preloaded copy sees no calls and must stay off, or two writers share one spool file and the counts
// go wrong. (This is how the ThreadSanitizer run records: scripts/sanitize.sh thread.)
TEST(Load, AProgramCarryingTheCaptureItselfIsRecordedOnce)
{
    if (shell("command -v sqlite3 >/dev/null").status != 0)
        GTEST_SKIP() << "the sqlite3 shell is needed";
    expectEveryAllocationRecorded(kLinkedTarget, 4, 50'000);
}

} // namespace
