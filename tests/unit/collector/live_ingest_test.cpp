// The live ingest (the spool followed while its process still writes it) must give the same
// recording as ingesting the finished spool at once: the spool is copied into place a slice at a
// time (cut anywhere, mid-chunk too) with poll() after each slice, and every table is compared.
#include "collector/dump.h"
#include "collector/file_ingest.h"
#include "collector/ingest.h"
#include "spool_builder.h"
#include "trace/recording.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <random>
#include <sstream>
#include <unistd.h>

namespace fs = std::filesystem;
using namespace tidemark;
using tidemark::testing::SpoolBuilder;

namespace {

class LiveIngestTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        m_dir = fs::temp_directory_path() / ("tidemark_live_ingest_" + std::to_string(::getpid()));
        fs::remove_all(m_dir);
        fs::create_directories(m_dir / "whole");
        fs::create_directories(m_dir / "live");
    }
    void TearDown() override { fs::remove_all(m_dir); }

    static std::string dump(trace::Db& db)
    {
        char* text = nullptr;
        size_t size = 0;
        FILE* out = open_memstream(&text, &size);
        EXPECT_TRUE(collector::dumpRecording(db, "", out));
        std::fclose(out);
        std::string s(text, size);
        std::free(text);
        return s;
    }

    static std::vector<char> read(const fs::path& p)
    {
        std::ifstream in(p, std::ios::binary);
        return { std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>() };
    }

    fs::path m_dir;
};

TEST_F(LiveIngestTest, FollowingAGrowingSpoolGivesTheSameRecordingAsTheFinishedOne)
{
    // Three threads over 30 s of program time (so the live merge, 50 ms behind, has work to do),
    // chunks flushed out of time order across threads by up to ~35 ms, addresses reused across
    // threads, stacks, and leaks.
    SpoolBuilder b(4242, 1, 0, 1'000'000'000);
    b.processInfo(1, 1'000'000'000, "/bin/app", "app --train");
    b.module(1, 1'000'000'000, "/bin/app", 0x400000, 0x400000, 0x500000);
    b.stack(1, 1, { 0x401000, 0x402000 }).stack(2, 1, { 0x401000, 0x403000 }).stack(3, 1, { 0x404000 });
    std::mt19937_64 rng(5);
    std::vector<uint64_t> live;
    uint64_t ts = 1'000'000'000, lastFlush[4] = { 0, ts, ts, ts };
    for (int i = 0; i < 30000; ++i) {
        ts += 1'000'000; // 1 ms
        uint32_t tid = 1 + static_cast<uint32_t>(rng() % 3);
        if (live.empty() || rng() % 2) {
            uint64_t addr = 0x10000 + (rng() % 5000) * 64;
            if (std::find(live.begin(), live.end(), addr) != live.end())
                continue;
            b.hostAlloc(tid, ts, addr, 8 + rng() % 5000, tid);
            live.push_back(addr);
        } else {
            size_t k = rng() % live.size();
            b.hostFree(tid, ts, live[k]);
            live.erase(live.begin() + static_cast<long>(k));
        }
        if (ts - lastFlush[tid] > (10 + rng() % 25) * 1'000'000) {
            b.flush(tid);
            lastFlush[tid] = ts;
        }
    }
    b.exit(1, ts + 1);
    fs::path whole = b.write(m_dir / "whole");

    auto expected = trace::createRecording((m_dir / "whole.tmdb").string());
    ASSERT_TRUE(expected);
    ASSERT_TRUE(collector::ingest((m_dir / "whole").string(), *expected));

    auto db = trace::createRecording((m_dir / "live.tmdb").string());
    ASSERT_TRUE(db);
    std::vector<char> bytes = read(whole);
    fs::path growing = m_dir / "live" / whole.filename();
    uint64_t pairedLive = 0;
    {
        collector::LiveIngest live((m_dir / "live").string(), *db, {});
        ASSERT_TRUE(live.begin());
        EXPECT_EQ(live.poll(), 0u); // no file yet
        std::ofstream out(growing, std::ios::binary);
        size_t at = 0;
        while (at < bytes.size()) {
            size_t n = std::min(bytes.size() - at, static_cast<size_t>(1 + rng() % 20000));
            out.write(bytes.data() + at, static_cast<std::streamsize>(n));
            out.flush();
            at += n;
            pairedLive += live.poll(1000);
        }
        auto report = live.finish();
        ASSERT_TRUE(report) << report.error().message;
        EXPECT_EQ(report->processes, 1u);
        EXPECT_FALSE(report->cut_short);
    }
    // Most of the pairing happened while the file grew, not at the end.
    EXPECT_GT(pairedLive, 20000u);
    EXPECT_EQ(*db->queryInt("SELECT value FROM capture_stats WHERE name = 'out_of_order_records'"), 0);
    std::string got = dump(*db), want = dump(*expected);
    ASSERT_FALSE(want.empty());
    EXPECT_TRUE(got == want) << "the live recording differs from the one of the finished spool";
}

TEST_F(LiveIngestTest, AProcessThatAppearsLateAndATornTailAreHandledAtTheEnd)
{
    SpoolBuilder parent(10, 1, 0, 1'000'000'000);
    parent.hostAlloc(1, 1'000'000'000, 0x1000, 64).hostFree(1, 3'000'000'000, 0x1000).exit(1, 3'000'000'001);
    parent.write(m_dir / "whole");
    SpoolBuilder child(11, 10, 0, 2'000'000'000);
    child.hostAlloc(1, 2'000'000'000, 0x2000, 128);
    fs::path childFile = child.write(m_dir / "whole", 9); // died mid-chunk: no exit record, a torn tail

    auto db = trace::createRecording((m_dir / "live.tmdb").string());
    ASSERT_TRUE(db);
    collector::LiveIngest live((m_dir / "live").string(), *db, {});
    ASSERT_TRUE(live.begin());
    fs::copy_file(m_dir / "whole" / "10.0.tmspool", m_dir / "live" / "10.0.tmspool");
    live.poll();
    fs::copy_file(childFile, m_dir / "live" / childFile.filename());
    live.poll();
    auto report = live.finish();
    ASSERT_TRUE(report) << report.error().message;
    EXPECT_EQ(report->processes, 2u);
    EXPECT_TRUE(report->cut_short);
    EXPECT_GT(report->truncated_bytes, 0u);
    EXPECT_EQ(*db->queryInt("SELECT parent_id FROM processes WHERE pid = 11"), 1);
    EXPECT_EQ(*db->queryInt("SELECT count(*) FROM allocations"), 1); // the child's chunk was torn
}

} // namespace
