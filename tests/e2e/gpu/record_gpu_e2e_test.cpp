// Full recordings of the GPU-side capture through `tidemark record`: the fake-cudart program (the
// runtime hooks in front of the fake CUDA runtime TEST DOUBLE) and `tidemark-train --device cpu`
// (NVTX ranges and the memory extension for real), checked in the SQLite recording against the
// ground truth each program prints or writes itself.
#include "spool_model.h"

#include "trace/recording.h"
#include "trace/sqlite.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <unistd.h>

namespace fs = std::filesystem;
using namespace tidemark;
using namespace tidemark::gputest;

namespace {

std::string buildDir()
{
    return std::getenv("TIDEMARK_BUILD_DIR") ? std::getenv("TIDEMARK_BUILD_DIR") : ".";
}
fs::path workDir()
{
    fs::path dir = fs::temp_directory_path() / ("tidemark_record_gpu_" + std::to_string(getpid()));
    fs::create_directories(dir);
    return dir;
}
uint64_t hex(const std::string& s)
{
    return std::stoull(s, nullptr, 16);
}

int64_t queryInt(trace::Db& db, const std::string& sql)
{
    auto v = db.queryInt(sql);
    EXPECT_TRUE(v.ok()) << sql;
    return v.ok() ? *v : -1;
}

// Names of the functions on an allocation's stack (innermost frame's symbol, per callsite).
std::vector<std::string> stackFunctions(trace::Db& db, int64_t callsite)
{
    std::vector<std::string> out;
    auto stmt = db.prepare(
        "WITH RECURSIVE chain(id, parent, frame) AS ("
        " SELECT id, parent_id, frame_id FROM callsites WHERE id = ?1"
        " UNION ALL SELECT c.id, c.parent_id, c.frame_id FROM callsites c JOIN chain ON c.id = chain.parent)"
        " SELECT coalesce(s.value, '') FROM chain LEFT JOIN symbols y ON y.frame_id = chain.frame"
        " AND y.inline_depth = 0 LEFT JOIN strings s ON s.id = y.function_id");
    if (!stmt.ok())
        return out;
    stmt->bind(1, callsite);
    while (stmt->step())
        out.push_back(stmt->text(0));
    return out;
}

class RecordFakeCudart : public ::testing::Test {
protected:
    static void SetUpTestSuite()
    {
        recording = (workDir() / "fake_cudart.tmdb").string();
        fs::remove(recording);
        result = run({ buildDir() + "/bin/tidemark", "record", "-o", recording, "--",
                         buildDir() + "/tests/bin/fake_cudart_app" },
            { "TIDEMARK_FAKE_CUDART_CAPACITY=16M", "TIDEMARK_FAKE_CUDART_DEVICES=2" });
        truth = truthLines(result.out);
    }
    static inline std::string recording;
    static inline RunResult result;
    static inline std::vector<std::pair<std::string, std::map<std::string, std::string>>> truth;
};

TEST_F(RecordFakeCudart, EveryDeviceAllocationWithDeviceSizeStackAndPhase)
{
    ASSERT_EQ(result.exitCode, 0) << result.out;
    auto db = trace::openRecording(recording);
    ASSERT_TRUE(db.ok());
    std::map<uint64_t, bool> freed;
    for (auto& [kind, f] : truth)
        if (kind == "free")
            freed[hex(f["ptr"])] = true;
    int checked = 0;
    for (auto& [kind, f] : truth) {
        if (kind != "alloc")
            continue;
        std::string space = f["space"] == "device" ? "cuda:" + f["device"] : f["space"];
        auto stmt = db->prepare(
            "SELECT a.size_bytes, s.name, a.callsite_id, coalesce(rs.value, ''), a.free_ts_ns IS NOT NULL,"
            " a.source_mask FROM allocations a JOIN spaces s ON s.id = a.space_id"
            " LEFT JOIN ranges r ON r.id = a.range_id LEFT JOIN strings rs ON rs.id = r.name_id"
            " WHERE a.address = ?1 AND s.kind != 'host'");
        ASSERT_TRUE(stmt.ok());
        stmt->bind(1, static_cast<int64_t>(hex(f["ptr"])));
        ASSERT_TRUE(stmt->step()) << "no row for " << f["api"] << " at " << f["ptr"];
        EXPECT_EQ(stmt->int64(0), std::stoll(f["size"])) << f["api"];
        EXPECT_EQ(stmt->text(1), space) << f["api"];
        EXPECT_EQ(stmt->text(3), f["phase"]) << f["api"];
        EXPECT_EQ(stmt->int64(4) != 0, freed.count(hex(f["ptr"])) > 0) << f["api"];
        EXPECT_NE(stmt->int64(5) & 1, 0) << "seen by the runtime hook";
        ASSERT_FALSE(stmt->isNull(2)) << f["api"] << " has no stack";
        auto functions = stackFunctions(*db, stmt->int64(2));
        EXPECT_NE(std::find(functions.begin(), functions.end(), "main"), functions.end())
            << f["api"] << ": stack does not reach main()";
        EXPECT_FALSE(stmt->step()) << "one row per allocation";
        ++checked;
    }
    EXPECT_EQ(checked, 8);
}

TEST_F(RecordFakeCudart, FailedAllocationWithMemGetInfoAndLiveSet)
{
    ASSERT_EQ(result.exitCode, 0);
    auto db = trace::openRecording(recording);
    ASSERT_TRUE(db.ok());
    std::map<std::string, std::string> t;
    for (auto& [kind, f] : truth)
        if (kind == "failed")
            t = f;
    ASSERT_FALSE(t.empty());
    auto stmt
        = db->prepare("SELECT f.size_bytes, f.error_code, f.device_free_bytes, f.device_total_bytes, f.live_bytes,"
                      " s.name, coalesce(rs.value, '') FROM failed_allocations f JOIN spaces s ON s.id = f.space_id"
                      " LEFT JOIN ranges r ON r.id = f.range_id LEFT JOIN strings rs ON rs.id = r.name_id");
    ASSERT_TRUE(stmt.ok());
    ASSERT_TRUE(stmt->step());
    EXPECT_EQ(stmt->int64(0), std::stoll(t["size"]));
    EXPECT_EQ(stmt->int64(1), 2) << "cudaErrorMemoryAllocation";
    EXPECT_EQ(stmt->int64(2), std::stoll(t["free"]));
    EXPECT_EQ(stmt->int64(3), std::stoll(t["total"]));
    EXPECT_EQ(stmt->int64(4), std::stoll(t["live"])) << "live set on cuda:0 at the failure";
    EXPECT_EQ(stmt->text(5), "cuda:0");
    EXPECT_EQ(stmt->text(6), "oom");
    EXPECT_FALSE(stmt->step());
}

TEST_F(RecordFakeCudart, CoverageInTheRecording)
{
    auto db = trace::openRecording(recording);
    ASSERT_TRUE(db.ok());
    EXPECT_EQ(queryInt(*db, "SELECT value FROM capture_stats WHERE source = 'cuda' AND name = 'cuda.hooks'"), 16);
    EXPECT_EQ(
        queryInt(*db, "SELECT value FROM capture_stats WHERE source = 'cuda' AND name = 'cuda.hook.cudaMalloc'"), 4);
    EXPECT_GE(queryInt(*db, "SELECT value FROM capture_stats WHERE source = 'nvtx' AND name = 'nvtx.injection'"), 1);
}

// CUPTI activity records built from the toolkit's real structs, pushed through CUPTI's buffer path
// in the companion, the bridge, the real writer and the collector, end up as recording rows.
TEST(RecordCuptiActivity, RealStructsBecomeRows)
{
    std::string recording = (workDir() / "cupti_feed.tmdb").string();
    fs::remove(recording);
    RunResult r = run(
        { buildDir() + "/bin/tidemark", "record", "-o", recording, "--", buildDir() + "/tests/bin/cupti_feed_app" },
        {});
    ASSERT_EQ(r.exitCode, 0) << r.out;
    std::map<std::string, std::map<std::string, std::string>> t;
    for (auto& [kind, f] : truthLines(r.out))
        t[kind] = f;
    EXPECT_EQ(t["fed"]["converted"], "6");
    auto db = trace::openRecording(recording);
    ASSERT_TRUE(db.ok());

    auto k = db->prepare(
        "SELECT s.value, k.device, k.stream, k.end_ts_ns - k.start_ts_ns, k.grid_x, k.block_x, k.source_mask,"
        " k.start_ts_ns >= p.start_ts_ns FROM kernels k JOIN strings s ON s.id = k.name_id"
        " JOIN processes p ON p.id = k.process_id");
    ASSERT_TRUE(k.ok());
    ASSERT_TRUE(k->step());
    EXPECT_EQ(k->text(0), t["kernel"]["name"]);
    EXPECT_EQ(k->int64(1), std::stoll(t["kernel"]["device"]));
    EXPECT_EQ(k->int64(2), std::stoll(t["kernel"]["stream"]));
    EXPECT_EQ(k->int64(3), std::stoll(t["kernel"]["duration"]));
    EXPECT_EQ(k->int64(4), std::stoll(t["kernel"]["grid"]));
    EXPECT_EQ(k->int64(5), std::stoll(t["kernel"]["block"]));
    EXPECT_EQ(k->int64(6), 4) << "kSourceCuptiActivity";
    EXPECT_EQ(k->int64(7), 1) << "kernel time on the host clock, inside the process lifetime";
    EXPECT_FALSE(k->step());

    EXPECT_EQ(queryInt(*db,
                  "SELECT count(*) FROM memcpys WHERE copy_kind = '" + t["memcpy"]["kind"] + "' AND size_bytes = "
                      + t["memcpy"]["bytes"] + " AND end_ts_ns - start_ts_ns = " + t["memcpy"]["duration"]),
        1);
    EXPECT_EQ(queryInt(*db, "SELECT count(*) FROM memsets WHERE size_bytes = " + t["memset"]["bytes"]), 1);
    EXPECT_EQ(queryInt(*db,
                  "SELECT count(*) FROM allocations a JOIN spaces s ON s.id = a.space_id WHERE s.name = 'cuda:"
                      + t["alloc"]["device"] + "' AND a.address = " + std::to_string(hex(t["alloc"]["address"]))
                      + " AND a.size_bytes = " + t["alloc"]["size"]
                      + " AND a.free_ts_ns - a.alloc_ts_ns = " + t["alloc"]["life"] + " AND a.source_mask = 4"),
        1);
    EXPECT_EQ(queryInt(*db,
                  "SELECT count(*) FROM samples m JOIN spaces s ON s.id = m.space_id WHERE s.kind = 'pool'"
                  " AND m.total_bytes = "
                      + t["pool"]["total"] + " AND m.total_bytes - m.free_bytes = " + t["pool"]["used"]),
        1);
    // Without a driver CUPTI cannot subscribe; the recording says so, and counts what it converted.
    EXPECT_EQ(queryInt(*db, "SELECT value FROM capture_stats WHERE source = 'cupti' AND name = 'cupti'"), 0);
    EXPECT_EQ(queryInt(*db, "SELECT value FROM capture_stats WHERE source = 'cupti' AND name = 'cupti.kernels'"), 1);
}

// One allocation seen by the runtime hook and by a CUPTI MEMORY2 record is stored once
// (docs/gpu-capture.md, merge rule), with the hook's stack and both source bits.
TEST(RecordCuptiActivity, SameAllocationFromTwoSourcesIsOneRow)
{
    std::string recording = (workDir() / "cupti_merge.tmdb").string();
    fs::remove(recording);
    RunResult r = run({ buildDir() + "/bin/tidemark", "record", "-o", recording, "--",
                          buildDir() + "/tests/bin/cupti_feed_app", "merge" },
        { "TIDEMARK_FAKE_CUDART_CAPACITY=16M" });
    ASSERT_EQ(r.exitCode, 0) << r.out;
    std::map<std::string, std::string> t;
    for (auto& [kind, f] : truthLines(r.out))
        if (kind == "merged")
            t = f;
    ASSERT_FALSE(t.empty());
    auto db = trace::openRecording(recording);
    ASSERT_TRUE(db.ok());
    auto stmt = db->prepare(
        "SELECT a.size_bytes, a.source_mask, a.callsite_id IS NOT NULL, a.free_ts_ns IS NOT NULL"
        " FROM allocations a JOIN spaces s ON s.id = a.space_id WHERE s.name = 'cuda:1' AND a.address = ?1");
    ASSERT_TRUE(stmt.ok());
    stmt->bind(1, static_cast<int64_t>(hex(t["address"])));
    ASSERT_TRUE(stmt->step());
    EXPECT_EQ(stmt->int64(0), std::stoll(t["size"]));
    EXPECT_EQ(stmt->int64(1), std::stoll(t["sources"])) << "preload (1) | CUPTI activity (4)";
    EXPECT_EQ(stmt->int64(2), 1) << "the hook's stack";
    EXPECT_EQ(stmt->int64(3), 1);
    EXPECT_FALSE(stmt->step()) << "stored twice";
}

// An NVTX program built with AddressSanitizer, leak checks on: NVTX dlopens the injection library.
// When that was the preloaded capture library itself, LeakSanitizer reported the loader's
// bookkeeping of the second open as a leak and the program exited 1 instead of 0.
TEST(RecordNvtx, AProgramBuiltWithAddressSanitizerKeepsItsExitStatusAndItsRanges)
{
    std::string recording = (workDir() / "nvtx_asan.tmdb").string();
    fs::remove(recording);
    RunResult r = run({ "/bin/sh", "-c",
                          buildDir() + "/bin/tidemark record -o " + recording + " -- " + buildDir()
                              + "/tests/bin/nvtx_app_asan 3 2>&1" },
        { "ASAN_OPTIONS=detect_leaks=1" });
    EXPECT_EQ(r.exitCode, 0) << r.out;
    EXPECT_EQ(r.out.find("LeakSanitizer"), std::string::npos) << r.out;
    auto db = trace::openRecording(recording);
    ASSERT_TRUE(db.ok());
    EXPECT_EQ(queryInt(*db, "SELECT count(*) FROM ranges r JOIN strings s ON s.id = r.name_id WHERE s.value = 'train_step'"),
        3);
}

TEST(RecordTrainCpu, NvtxPhasesAndAllocatorPoolsMatchTheTruthFile)
{
    fs::path truthPath = workDir() / "train_truth.json";
    std::string recording = (workDir() / "train.tmdb").string();
    fs::remove(recording);
    RunResult r
        = run({ buildDir() + "/bin/tidemark", "record", "-o", recording, "--", buildDir() + "/bin/tidemark-train",
                  "--device", "cpu", "--steps", "4", "--truth", truthPath.string() },
            {});
    ASSERT_EQ(r.exitCode, 0) << r.out;
    nlohmann::json truth = nlohmann::json::parse(std::ifstream(truthPath));
    auto db = trace::openRecording(recording);
    ASSERT_TRUE(db.ok());
    for (int step = 1; step <= 4; ++step)
        EXPECT_EQ(queryInt(*db,
                      "SELECT count(*) FROM ranges r JOIN strings s ON s.id = r.name_id WHERE s.value = 'step "
                          + std::to_string(step) + "'"),
            1);
    EXPECT_EQ(
        queryInt(*db, "SELECT count(*) FROM ranges r JOIN strings s ON s.id = r.name_id WHERE s.value = 'forward'"), 4);
    EXPECT_EQ(queryInt(*db, "SELECT count(*) FROM ranges WHERE end_ts_ns IS NULL"), 0);
    const auto& a = truth["allocator"];
    EXPECT_EQ(queryInt(*db, "SELECT count(*) FROM pool_heaps"), a["segments_created"].get<int64_t>());
    EXPECT_EQ(queryInt(*db, "SELECT count(*) FROM pool_heaps WHERE unregister_ts_ns IS NOT NULL"),
        a["segments_freed"].get<int64_t>());
    EXPECT_EQ(
        queryInt(*db, "SELECT count(*) FROM allocations WHERE heap_id IS NOT NULL"), a["alloc_calls"].get<int64_t>());
    EXPECT_EQ(queryInt(*db, "SELECT count(*) FROM allocations WHERE heap_id IS NOT NULL AND free_ts_ns IS NOT NULL"),
        a["free_calls"].get<int64_t>());
    // Activations are named regions allocated inside a forward range of some step.
    EXPECT_GT(queryInt(*db,
                  "SELECT count(*) FROM allocations a JOIN strings n ON n.id = a.name_id"
                  " JOIN ranges r ON r.id = a.range_id WHERE a.heap_id IS NOT NULL AND n.value = 'activation'"),
        0);
}

} // namespace

namespace {

// Removes this run's temporary files at the end (TIDEMARK_KEEP_TEST_FILES=1 keeps them).
class TempCleanup : public ::testing::Environment {
public:
    void TearDown() override
    {
        if (!std::getenv("TIDEMARK_KEEP_TEST_FILES")) {
            std::error_code ignored;
            fs::remove_all(fs::temp_directory_path() / ("tidemark_record_gpu_" + std::to_string(getpid())), ignored);
        }
    }
};
const auto* g_cleanup = ::testing::AddGlobalTestEnvironment(new TempCleanup);

} // namespace
