// Property tests on generated recordings: the analysis answers are compared with a brute-force
// oracle computed in the test from the generated rows (live bytes never negative, the timeline at
// the peak equals the peak, series envelopes contain every exact value, lifetimes are ordered).
#include "analysis/analysis.h"
#include "trace/finalize.h"
#include "trace/enums.h"
#include "trace/recording.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <random>

namespace fs = std::filesystem;
using namespace tidemark;
using namespace tidemark::analysis;

namespace {

struct Row {
    int64_t size;
    int64_t at;
    std::optional<int64_t> free;
};

// Brute force: live bytes after every event at or before t.
int64_t oracleLive(const std::vector<Row>& rows, int64_t t)
{
    int64_t v = 0;
    for (const auto& r : rows)
        if (r.at <= t && (!r.free || *r.free > t))
            v += r.size;
    return v;
}

class Generated : public ::testing::TestWithParam<int> {
protected:
    void SetUp() override
    {
        std::mt19937_64 rng(static_cast<uint64_t>(GetParam()));
        // Per process: ctest runs the cases of one seed in parallel processes.
        path = (fs::temp_directory_path()
            / ("tm_prop_" + std::to_string(::getpid()) + "_" + std::to_string(GetParam()) + ".tmdb"))
                   .string();
        auto db = trace::createRecording(path);
        ASSERT_TRUE(db.ok());
        ASSERT_TRUE(db->exec("INSERT INTO processes(id, pid) VALUES (1, 1); INSERT INTO spaces(id, kind, name) VALUES (1, 'host', 'host')").ok());
        int n = 200 + static_cast<int>(rng() % 3000);
        int64_t span = 1 + static_cast<int64_t>(rng() % 5'000'000);
        std::uniform_int_distribution<int64_t> when(0, span), size(1, 1 << 20);
        for (int i = 0; i < n; ++i) {
            Row r { size(rng), when(rng), std::nullopt };
            switch (rng() % 4) {
            case 0: break;                                                    // live at the end
            case 1: r.free = r.at; break;                                     // zero lifetime
            default: r.free = r.at + static_cast<int64_t>(rng() % (span / 4 + 1)) + 1;
            }
            if (rng() % 50 == 0)
                r.at = rows.empty() ? r.at : rows.back().at; // equal timestamps
            rows.push_back(r);
        }
        trace::Transaction tx(*db);
        auto st = db->prepare("INSERT INTO allocations(space_id, process_id, api, address, size_bytes, alloc_ts_ns, free_ts_ns, "
                              "source_mask) VALUES (1, 1, 1, ?, ?, ?, ?, 1)");
        ASSERT_TRUE(st.ok());
        for (size_t i = 0; i < rows.size(); ++i) {
            st->bind(1, static_cast<int64_t>(0x1000 + i * 64)).bind(2, rows[i].size).bind(3, rows[i].at).bind(4, rows[i].free);
            ASSERT_TRUE(st->run().ok());
        }
        ASSERT_TRUE(tx.commit().ok());
        ASSERT_TRUE(trace::finalizeRecording(*db).ok());
    }
    void TearDown() override { fs::remove(path); }

    std::string path;
    std::vector<Row> rows;
};

TEST_P(Generated, PeakMatchesBruteForceAndTheTimelineShowsIt)
{
    auto rec = Recording::open(path);
    ASSERT_TRUE(rec.ok());
    int64_t best = 0;
    for (const auto& r : rows) {
        best = std::max(best, oracleLive(rows, r.at));
        if (r.free)
            best = std::max(best, oracleLive(rows, *r.free));
    }
    auto p = peak(*rec, 1);
    ASSERT_TRUE(p.ok());
    EXPECT_EQ(best, p->bytes);
    EXPECT_EQ(best, oracleLive(rows, p->ts)) << "the peak time holds the peak";
    EXPECT_EQ(best, p->live.totalBytes) << "the live set at the peak adds up to the peak";
    for (int width : { 1, 7, 100, 1000, 5000 }) {
        auto tl = timeline(*rec, 1, rec->startNs(), rec->endNs() + 1, width);
        ASSERT_TRUE(tl.ok());
        int64_t mx = 0;
        for (const auto& b : tl->buckets) {
            EXPECT_GE(b.minLiveBytes, 0) << "live bytes never negative";
            EXPECT_LE(b.minLiveBytes, b.maxLiveBytes);
            mx = std::max(mx, b.maxLiveBytes);
            if (b.startNs <= p->ts && p->ts < b.endNs)
                EXPECT_EQ(best, b.maxLiveBytes) << "the column holding the peak shows the peak (width " << width << ")";
        }
        EXPECT_EQ(best, mx) << "width " << width;
    }
}

TEST_P(Generated, EnvelopesContainEveryExactValue)
{
    auto rec = Recording::open(path);
    ASSERT_TRUE(rec.ok());
    std::mt19937_64 rng(static_cast<uint64_t>(GetParam()) * 7919);
    TimeNs t0 = rec->startNs(), t1 = rec->endNs() + 1;
    for (int width : { 3, 64, 640 }) {
        auto tl = timeline(*rec, 1, t0, t1, width);
        ASSERT_TRUE(tl.ok());
        for (int k = 0; k < 200; ++k) {
            TimeNs t = t0 + static_cast<TimeNs>(rng() % static_cast<uint64_t>(t1 - t0));
            int64_t exact = oracleLive(rows, t);
            auto live = liveBytesAt(*rec, 1, t);
            ASSERT_TRUE(live.ok());
            ASSERT_EQ(exact, *live) << "exact live bytes at " << t;
            auto it = std::find_if(tl->buckets.begin(), tl->buckets.end(), [&](const TimelineBucket& b) { return b.startNs <= t && t < b.endNs; });
            ASSERT_NE(it, tl->buckets.end());
            EXPECT_LE(it->minLiveBytes, exact) << "t=" << t << " width " << width;
            EXPECT_GE(it->maxLiveBytes, exact) << "t=" << t << " width " << width;
        }
    }
}

TEST_P(Generated, FreedAllocationsEndAfterTheyStartAndLeaksAddUp)
{
    auto rec = Recording::open(path);
    ASSERT_TRUE(rec.ok());
    TimeNs mid = (rec->startNs() + rec->endNs()) / 2;
    auto live = liveAllocationsAt(*rec, 1, mid, 0);
    ASSERT_TRUE(live.ok());
    int64_t sum = 0;
    for (const auto& a : *live) {
        EXPECT_LE(a.allocNs, mid);
        if (a.freeNs)
            EXPECT_GT(*a.freeNs, a.allocNs) << "a live allocation was freed after it started";
        sum += a.sizeBytes;
    }
    EXPECT_EQ(oracleLive(rows, mid), sum);
    int64_t liveAtEnd = 0;
    for (const auto& r : rows)
        if (!r.free)
            liveAtEnd += r.size;
    auto l = leaks(*rec, 1, {}, 0);
    ASSERT_TRUE(l.ok());
    EXPECT_EQ(liveAtEnd, l->liveAtEndBytes);
    EXPECT_EQ(liveAtEnd, l->leakedBytes + l->retainedBytes);
}

// The series built from the rows without indexes (one pass, events sorted in memory, as `record`
// does for a space shared by forked processes) equals the one streamed through the indexes, bucket
// for bucket, with or without series parameters to start from.
TEST_P(Generated, SeriesFromRowsInMemoryEqualsTheIndexedStream)
{
    auto db = trace::openRecording(path, trace::OpenMode::ReadWrite);
    ASSERT_TRUE(db.ok());
    auto dump = [&] {
        std::vector<std::vector<int64_t>> out;
        auto st = db->prepare("SELECT space_id, level, bucket, start_ts_ns, end_ts_ns, min_live_bytes, max_live_bytes, "
                              "last_live_bytes, allocs, frees FROM series ORDER BY space_id, level, bucket");
        while (st->step()) {
            std::vector<int64_t> r;
            for (int c = 0; c < 10; ++c)
                r.push_back(st->int64(c));
            out.push_back(r);
        }
        for (const char* key : { "series_origin_ns", "series_base_ns", "series_levels" }) {
            auto v = trace::getMeta(*db, key);
            out.push_back({ v ? std::stoll(*v) : -1 });
        }
        return out;
    };
    auto dropIndexes = [&] {
        std::vector<std::string> names;
        auto st = db->prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL");
        while (st->step())
            names.push_back(st->text(0));
        for (const auto& n : names)
            ASSERT_TRUE(db->exec("DROP INDEX " + n).ok());
    };
    const auto streamed = dump(); // SetUp finalized with the indexes
    ASSERT_GT(streamed.size(), 3u);
    for (bool keepParams : { true, false }) {
        SCOPED_TRACE(keepParams ? "parameters kept" : "parameters chosen again");
        dropIndexes();
        ASSERT_TRUE(db->exec("DELETE FROM series").ok());
        if (!keepParams)
            ASSERT_TRUE(db->exec("DELETE FROM meta WHERE key LIKE 'series_%'").ok());
        std::vector<std::string> stages; // in order: the series from memory, then the indexes it is given
        auto progress = [&](std::string_view stage, double) {
            if (stages.empty() || stages.back() != stage)
                stages.emplace_back(stage);
        };
        ASSERT_TRUE(trace::finalizeRecording(*db, progress, { trace::FinalizeOptions::Indexes::WhenUseful }).ok());
        EXPECT_EQ(stages, (std::vector<std::string> { "series", "indexes" }))
            << "a small recording's series is built without the indexes";
        EXPECT_EQ(dump(), streamed);
    }
}

// Churn reads a space in allocation order three ways: the table in its own order sorted in memory
// (a space that is most of the table), through the allocation-time index (a small one), and by
// SQLite's ORDER BY (no series to size it). Each must give the oracle's temporaries, ties in time
// broken by row id as the index does, and the same lifetime samples.
TEST_P(Generated, ChurnMatchesBruteForceWhicheverWayTheRowsAreRead)
{
    const TimeNs window = 1000;
    // Oracle: rows in (alloc time, id) order on the one thread; temporary when freed within the
    // window, at or before the next allocation, or with no next allocation.
    std::vector<size_t> order(rows.size());
    for (size_t i = 0; i < order.size(); ++i)
        order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return rows[a].at < rows[b].at; });
    int64_t temporaries = 0, temporaryBytes = 0;
    for (size_t k = 0; k < order.size(); ++k) {
        const Row& r = rows[order[k]];
        if (!r.free)
            continue;
        bool last = k + 1 == order.size();
        if (std::max<int64_t>(0, *r.free - r.at) <= window || last || *r.free <= rows[order[k + 1]].at) {
            ++temporaries;
            temporaryBytes += r.size;
        }
    }
    auto check = [&](const char* how) -> std::vector<TimeNs> {
        auto rec = Recording::open(path);
        EXPECT_TRUE(rec.ok()) << how;
        if (!rec.ok())
            return {};
        auto c = churn(*rec, 1, {}, 0, window);
        EXPECT_TRUE(c.ok()) << how;
        if (!c.ok())
            return {};
        EXPECT_EQ(c->allocations, static_cast<int64_t>(rows.size())) << how;
        EXPECT_EQ(c->temporaries, temporaries) << how;
        EXPECT_EQ(c->temporaryBytes, temporaryBytes) << how;
        std::vector<TimeNs> medians;
        for (const auto& site : c->sites)
            medians.push_back(site.medianLifetimeNs);
        return medians;
    };
    auto inMemory = check("table order, sorted in memory");
    {
        // Four times as many rows in another space: space 1 is now read through the index.
        auto db = trace::openRecording(path, trace::OpenMode::ReadWrite);
        ASSERT_TRUE(db.ok());
        ASSERT_TRUE(db->exec("INSERT INTO spaces(id, kind, name) VALUES (2, 'device', 'cuda:0')").ok());
        trace::Transaction tx(*db);
        auto st = db->prepare("INSERT INTO allocations(space_id, process_id, api, address, size_bytes, alloc_ts_ns, "
                              "free_ts_ns, source_mask) VALUES (2, 1, 1, ?, 64, ?, NULL, 1)");
        ASSERT_TRUE(st.ok());
        for (size_t i = 0; i < rows.size() * 4; ++i) {
            st->bind(1, static_cast<int64_t>(0x100000 + i * 64)).bind(2, static_cast<int64_t>(i));
            ASSERT_TRUE(st->run().ok());
        }
        ASSERT_TRUE(tx.commit().ok());
        ASSERT_TRUE(trace::finalizeRecording(*db).ok());
    }
    EXPECT_EQ(check("allocation-time index"), inMemory);
    {
        auto db = trace::openRecording(path, trace::OpenMode::ReadWrite);
        ASSERT_TRUE(db.ok());
        ASSERT_TRUE(db->exec("DELETE FROM meta WHERE key = 'series_levels'").ok());
    }
    EXPECT_EQ(check("ORDER BY, without a series"), inMemory);
}

INSTANTIATE_TEST_SUITE_P(Seeds, Generated, ::testing::Values(1, 2, 3, 4, 5, 6));

TEST(Invalid, LifetimesEndingBeforeTheyStartAreCountedNotBelieved)
{
    std::string path = (fs::temp_directory_path() / ("tm_invalid_" + std::to_string(::getpid()) + ".tmdb")).string();
    auto db = trace::createRecording(path);
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE(db->exec("INSERT INTO processes(id, pid) VALUES (1, 1); INSERT INTO spaces(id, kind, name) VALUES (1, 'host', 'host');"
                         "INSERT INTO allocations(space_id, process_id, api, address, size_bytes, alloc_ts_ns, free_ts_ns, source_mask) "
                         "VALUES (1, 1, 1, 16, 100, 50, 10, 1), (1, 1, 1, 32, 7, 20, 60, 1)")
                    .ok());
    ASSERT_TRUE(trace::finalizeRecording(*db).ok());
    auto rec = Recording::open(path);
    ASSERT_TRUE(rec.ok());
    auto s = summary(*rec);
    ASSERT_TRUE(s.ok());
    EXPECT_EQ(1, s->invalidLifetimes);
    auto p = peak(*rec, 1);
    ASSERT_TRUE(p.ok());
    EXPECT_EQ(7, p->bytes) << "the backwards row never counts as live";
    auto tl = timeline(*rec, 1, 0, 100, 10);
    ASSERT_TRUE(tl.ok());
    for (const auto& b : tl->buckets)
        EXPECT_GE(b.minLiveBytes, 0);
    fs::remove(path);
}

} // namespace
