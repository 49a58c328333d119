// The series the collector writes while ingesting must equal the series analysis finalize builds
// from the allocation rows (the ground truth): same rows, bucket for bucket, on spools made to hit
// the hard cases (several threads, many equal timestamps, zero-length lifetimes, address reuse
// across threads, an allocation seen by two sources, a free extended by a late source).
#include "trace/finalize.h"
#include "collector/ingest.h"
#include "collector/live_series.h"
#include "spool_builder.h"
#include "trace/recording.h"

#include <gtest/gtest.h>

#include <random>
#include <unistd.h>

namespace fs = std::filesystem;
using namespace tidemark;
using tidemark::testing::SpoolBuilder;

namespace {

using Rows = std::vector<std::vector<int64_t>>;

class LiveSeriesTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        m_dir = fs::temp_directory_path()
            / ("tidemark_live_series_" + std::to_string(::getpid()) + "_"
                + ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(m_dir);
        fs::create_directories(m_dir / "spool");
    }
    void TearDown() override { fs::remove_all(m_dir); }

    void ingest()
    {
        auto db = trace::createRecording((m_dir / "out.tmdb").string());
        ASSERT_TRUE(db) << db.error().message;
        m_db = std::move(*db);
        auto report = collector::ingest((m_dir / "spool").string(), m_db);
        ASSERT_TRUE(report) << report.error().message;
    }

    Rows series()
    {
        Rows out;
        auto st = m_db.prepare("SELECT space_id, level, bucket, start_ts_ns, end_ts_ns, min_live_bytes, max_live_bytes, "
                               "last_live_bytes, allocs, frees FROM series ORDER BY space_id, level, bucket");
        EXPECT_TRUE(st);
        while (st && st->step()) {
            std::vector<int64_t> r;
            for (int c = 0; c < 10; ++c)
                r.push_back(st->int64(c));
            out.push_back(r);
        }
        return out;
    }

    int64_t num(const std::string& sql)
    {
        auto v = m_db.queryInt(sql);
        EXPECT_TRUE(v) << sql;
        return v ? *v : -1;
    }

    // Finalize fills in what the collector left out; then the whole series is rebuilt from the rows
    // with the same parameters, and both must agree.
    void expectSeriesMatchesTheRows()
    {
        ASSERT_TRUE(trace::finalizeRecording(m_db, {}, { trace::FinalizeOptions::Indexes::WhenUseful }));
        Rows fromIngest = series();
        ASSERT_FALSE(fromIngest.empty());
        ASSERT_TRUE(m_db.exec("DELETE FROM series"));
        ASSERT_TRUE(trace::finalizeRecording(m_db, {}, { trace::FinalizeOptions::Indexes::Always }));
        Rows fromRows = series();
        ASSERT_EQ(fromIngest.size(), fromRows.size());
        for (size_t i = 0; i < fromRows.size(); ++i)
            ASSERT_EQ(fromIngest[i], fromRows[i]) << "series row " << i;
    }

    fs::path m_dir;
    trace::Db m_db;
};

TEST_F(LiveSeriesTest, ManyThreadsWithEqualTimestampsMatchTheRows)
{
    // Four threads on a coarse clock (timestamps collide often), addresses shared between threads
    // (a block freed by one is reused by another), zero-length lifetimes, and leaks.
    SpoolBuilder b(100);
    std::mt19937_64 rng(42);
    struct Block {
        uint64_t addr, size;
    };
    std::vector<Block> live;
    uint64_t ts = 1000, nextAddr = 0x10000;
    std::vector<uint64_t> freeAddrs;
    for (int i = 0; i < 20000; ++i) {
        ts += rng() % 3; // 0, 1 or 2 ns apart
        uint32_t tid = 1 + static_cast<uint32_t>(rng() % 4);
        unsigned op = rng() % 10;
        if (op < 5 || live.empty()) {
            uint64_t addr = freeAddrs.empty() ? (nextAddr += 64) : freeAddrs.back();
            if (!freeAddrs.empty())
                freeAddrs.pop_back();
            uint64_t size = 16 + rng() % 4000;
            b.hostAlloc(tid, ts, addr, size);
            if (op == 0) {
                b.hostFree(tid, ts, addr); // freed at the same nanosecond: zero length
                freeAddrs.push_back(addr);
            } else {
                live.push_back({ addr, size });
            }
        } else {
            size_t k = rng() % live.size();
            b.hostFree(tid, ts, live[k].addr);
            freeAddrs.push_back(live[k].addr);
            live.erase(live.begin() + static_cast<long>(k));
        }
        if (rng() % 50 == 0)
            b.flush(tid); // chunks of different threads interleave in the file
    }
    b.exit(1, ts + 10);
    b.write(m_dir / "spool");
    ingest();
    // The host space was followed during ingest, not left to finalize.
    EXPECT_GT(num("SELECT count(*) FROM series s JOIN spaces p ON p.id = s.space_id WHERE p.kind = 'host'"), 0);
    expectSeriesMatchesTheRows();
}

TEST_F(LiveSeriesTest, BucketsThatDoubleInWidthStillMatchTheRows)
{
    // More distinct timestamps than a space keeps buckets (so their width doubles twice), over a
    // span that is not a power of two, starting far from zero.
    SpoolBuilder b(100, 1, 0, 5'000'000'123);
    std::mt19937_64 rng(9);
    uint64_t ts = 5'000'000'123;
    std::vector<uint64_t> live;
    const size_t kEvents = collector::LiveSeries::kMaxBuckets * 5;
    for (size_t i = 0; i < kEvents; ++i) {
        ts += 1 + rng() % 3;
        if (live.empty() || rng() % 2) {
            uint64_t addr = 0x100000 + i * 16;
            b.hostAlloc(1, ts, addr, 1 + rng() % 100000);
            live.push_back(addr);
        } else {
            size_t k = rng() % live.size();
            b.hostFree(1, ts, live[k]);
            live[k] = live.back();
            live.pop_back();
        }
    }
    b.exit(1, ts + 1);
    b.write(m_dir / "spool");
    ingest();
    EXPECT_GT(num("SELECT count(*) FROM series"), 0);
    expectSeriesMatchesTheRows();
}

TEST_F(LiveSeriesTest, MergedAndExtendedDeviceRowsAreRebuiltFromTheRows)
{
    SpoolBuilder b(100);
    const auto dev = SpaceKind::Device;
    b.hostAlloc(1, 5, 0x1000, 64);
    // Seen by the hook, then by the callback 1 ns *earlier*: the row starts at 99, not at 100.
    b.alloc(1, 100, dev, 0, 0xD000, 1 << 20, kSourcePreload).flush(1);
    b.alloc(2, 99, dev, 0, 0xD000, 1 << 20, kSourceCuptiCallback).flush(2);
    b.alloc(1, 150, dev, 0, 0xE000, 4096, kSourcePreload);
    b.free(1, 200, dev, 0, 0xD000, kSourcePreload).free(1, 201, dev, 0, 0xD000, kSourceCuptiCallback);
    // The activity record frees the second block later than the hook did: the row's free moves.
    b.free(1, 300, dev, 0, 0xE000, kSourcePreload).flush(1);
    b.alloc(7, 150, dev, 0, 0xE000, 4096, kSourceCuptiActivity, Api::CuptiMemoryActivity)
        .free(7, 350, dev, 0, 0xE000, kSourceCuptiActivity, Api::CuptiMemoryActivity);
    b.hostFree(1, 400, 0x1000);
    b.exit(1, 500);
    b.write(m_dir / "spool");
    ingest();
    // The device space's rows differ from what was seen in time order: left to finalize.
    EXPECT_EQ(num("SELECT count(*) FROM series s JOIN spaces p ON p.id = s.space_id WHERE p.name = 'cuda:0'"), 0);
    EXPECT_GT(num("SELECT count(*) FROM series s JOIN spaces p ON p.id = s.space_id WHERE p.kind = 'host'"), 0);
    expectSeriesMatchesTheRows();
    // And the rebuilt one is right: 1 MiB from 99 to 201, plus 4 KiB from 150 to 350.
    EXPECT_EQ(num("SELECT max(max_live_bytes) FROM series s JOIN spaces p ON p.id = s.space_id "
                  "WHERE p.name = 'cuda:0'"),
        (1 << 20) + 4096);
}

TEST_F(LiveSeriesTest, SeveralProcessesLeaveTheSeriesToFinalize)
{
    SpoolBuilder parent(100);
    parent.hostAlloc(1, 10, 0x1000, 64).hostFree(1, 30, 0x1000).exit(1, 50);
    parent.write(m_dir / "spool");
    SpoolBuilder child(101, 100, 0, 20);
    child.hostAlloc(1, 20, 0x1000, 128).hostFree(1, 40, 0x1000).exit(1, 45);
    child.write(m_dir / "spool");
    ingest();
    EXPECT_EQ(num("SELECT count(*) FROM series"), 0);
    ASSERT_TRUE(trace::finalizeRecording(m_db, {}, { trace::FinalizeOptions::Indexes::WhenUseful }));
    // Both processes share the host space: 64 + 128 bytes live between 20 and 30.
    EXPECT_EQ(num("SELECT max(max_live_bytes) FROM series"), 192);
}

} // namespace
