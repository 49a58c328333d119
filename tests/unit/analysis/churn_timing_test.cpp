// Lifetimes are never invented: on a host space recorded by tidemark's capture (which stamps up to 32
// heap events in a row with the previous timestamp + 1 ns), a site whose median lifetime is at most
// 32 ns is "untimed"; the same rows from a source that reads a clock for every event are timed.
#include "trace/finalize.h"
#include "analysis/queries.h"
#include "analysis/recording.h"
#include "trace/recording.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <unistd.h>

namespace fs = std::filesystem;
using namespace tidemark;

namespace {

// Two call sites: site 1's blocks live 1..3 ns (freed a few events later), site 2's 40 us.
std::string writeRecording(const std::string& name, const char* spaceKind, bool captureStats)
{
    std::string path = (fs::temp_directory_path() / (name + std::to_string(getpid()) + ".tmdb")).string();
    fs::remove(path);
    auto db = trace::createRecording(path);
    EXPECT_TRUE(db);
    std::string sql = std::string("INSERT INTO processes(id, pid) VALUES (1, 1); "
                                  "INSERT INTO spaces(id, kind, name) VALUES (1, '")
        + spaceKind + "', '" + (std::string(spaceKind) == "host" ? "host" : "cuda:0") + "'); "
        + "INSERT INTO strings(id, value) VALUES (1, 'quick'), (2, 'slow'); "
          "INSERT INTO frames(id, ip) VALUES (1, 4096), (2, 8192); "
          "INSERT INTO symbols(frame_id, inline_depth, function_id) VALUES (1, 0, 1), (2, 0, 2); "
          "INSERT INTO callsites(id, parent_id, frame_id, depth) VALUES (1, NULL, 1, 0), (2, NULL, 2, 0); "
          "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 999) "
          "INSERT INTO allocations(space_id, process_id, api, address, size_bytes, alloc_ts_ns, free_ts_ns, "
          "callsite_id, source_mask) SELECT 1, 1, 1, 4096 + i * 64, 48, 1000 + i * 100000, "
          "1000 + i * 100000 + CASE WHEN i % 2 = 0 THEN 1 + i % 3 ELSE 40000 END, 1 + i % 2, 1 FROM n;";
    if (captureStats)
        sql += "INSERT INTO capture_stats(process_id, source, name, value) VALUES (1, 'preload', "
               "'heap_clock_reads', 31);";
    EXPECT_TRUE(db->exec(sql));
    EXPECT_TRUE(trace::finalizeRecording(*db, {}, {}));
    EXPECT_TRUE(trace::sealRecording(*db));
    return path;
}

// site function name -> (median lifetime, timed)
std::map<std::string, std::pair<int64_t, bool>> medians(const std::string& path)
{
    std::map<std::string, std::pair<int64_t, bool>> out;
    auto rec = analysis::Recording::open(path);
    EXPECT_TRUE(rec) << (rec ? "" : rec.error().message);
    if (!rec)
        return out;
    auto c = analysis::churn(*rec, 1, {}, 10, 10);
    EXPECT_TRUE(c) << (c ? "" : c.error().message);
    if (!c)
        return out;
    for (const auto& s : c->sites)
        out[s.site.label] = { s.medianLifetimeNs, s.medianLifetimeTimed };
    fs::remove(path);
    return out;
}

TEST(ChurnTiming, LifetimesBetweenClockReadsAreUntimedOnlyWhereTheCaptureTookThatShortcut)
{
    auto captured = medians(writeRecording("tm_untimed", "host", true));
    ASSERT_EQ(captured.size(), 2u);
    EXPECT_EQ(captured["quick"].first, 2);
    EXPECT_FALSE(captured["quick"].second) << "2 ns between clock reads is a count of events, not a duration";
    EXPECT_EQ(captured["slow"].first, 40000);
    EXPECT_TRUE(captured["slow"].second);

    // No capture statistics (an import), or a device space (its events always read the clock).
    for (auto [kind, stats] : { std::pair { "host", false }, std::pair { "device", true } }) {
        auto m = medians(writeRecording("tm_timed", kind, stats));
        ASSERT_EQ(m.size(), 2u) << kind;
        EXPECT_EQ(m["quick"].first, 2) << kind;
        EXPECT_TRUE(m["quick"].second) << kind;
    }
}

} // namespace
