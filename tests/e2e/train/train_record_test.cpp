// `tidemark record -- tidemark-train --device cpu` end to end: the recording must hold the
// trainer's NVTX ranges (step/forward/backward/optimizer/layer K, properly nested), its caching
// allocator's segments as pool heaps and blocks as named regions, and the host allocations behind
// the segments, with every total agreeing with the truth file the trainer wrote itself.
#include "trace/recording.h"
#include "trace/sqlite.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <string>
#include <sys/wait.h>
#include <vector>

using namespace tidemark;

namespace {

constexpr int kSteps = 6;
constexpr int kLayers = 4;

struct Run {
    trace::Db db;
    nlohmann::json truth;
};

// Records once for the whole suite: a small run with a leak every 2 steps and the fragmentation
// pattern, so every kind of event the trainer can produce is in one recording.
class TrainRecordTest : public ::testing::Test {
protected:
    static void SetUpTestSuite()
    {
        // A private directory: other build trees may run this same test at the same time.
        std::string pattern = ::testing::TempDir() + "/tidemark_train_e2e_XXXXXX";
        const std::string dir = mkdtemp(pattern.data()) ? pattern : ::testing::TempDir();
        s_dir = dir;
        s_recording = dir + "/train_e2e.tmdb";
        s_truth = dir + "/train_e2e_truth.json";
        std::remove(s_recording.c_str());
        const std::string cmd = std::string(TIDEMARK_CLI_PATH) + " record -o " + s_recording + " -- "
            + TIDEMARK_TRAIN_PATH + " --device cpu --steps " + std::to_string(kSteps) + " --layers "
            + std::to_string(kLayers) + " --hidden 128 --batch-size 32 --leak-every 2 --leak-bytes 100000"
            + " --fragment --print-every 0 --truth " + s_truth + " > " + dir + "/train_e2e.log 2>&1";
        const int raw = std::system(cmd.c_str());
        s_status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
    }

    void SetUp() override
    {
        if (s_status != 0) {
            std::ifstream log(s_dir + "/train_e2e.log");
            const std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
            FAIL() << "tidemark record exited with " << s_status << ":\n" << text;
        }
        auto db = trace::openRecording(s_recording);
        ASSERT_TRUE(db.ok()) << db.error().message;
        m_db.emplace(std::move(db.value()));
        std::ifstream in(s_truth);
        m_truth = nlohmann::json::parse(in);
    }

    int64_t scalar(const std::string& sql)
    {
        auto st = m_db->prepare(sql);
        EXPECT_TRUE(st.ok()) << sql;
        if (!st.ok() || !st.value().step())
            return -1;
        return st.value().int64(0);
    }

    std::map<std::string, int64_t> countByName(const std::string& sql)
    {
        std::map<std::string, int64_t> out;
        auto st = m_db->prepare(sql);
        EXPECT_TRUE(st.ok()) << sql;
        while (st.ok() && st.value().step())
            out[st.value().text(0)] = st.value().int64(1);
        return out;
    }

    // Highest sum of sizes live at once over [start, end) lifetimes (end NULL = live at the end).
    int64_t peakLive(const std::string& sql)
    {
        std::vector<std::pair<int64_t, int64_t>> events; // (ts, delta); frees sort before allocs
        auto st = m_db->prepare(sql);
        EXPECT_TRUE(st.ok()) << sql;
        while (st.ok() && st.value().step()) {
            const int64_t size = st.value().int64(0);
            events.emplace_back(st.value().int64(1), size);
            if (!st.value().isNull(2))
                events.emplace_back(st.value().int64(2), -size);
        }
        std::sort(events.begin(), events.end());
        int64_t live = 0, peak = 0;
        for (const auto& [ts, delta] : events) {
            live += delta;
            peak = std::max(peak, live);
        }
        return peak;
    }

    static void TearDownTestSuite()
    {
        if (!s_dir.empty() && s_dir != ::testing::TempDir())
            std::filesystem::remove_all(s_dir);
    }

    static inline std::string s_dir, s_recording, s_truth;
    static inline int s_status = -1;
    std::optional<trace::Db> m_db;
    nlohmann::json m_truth;
};

} // namespace

TEST_F(TrainRecordTest, RecordsTheTrainingPhasesAsNestedRanges)
{
    const auto names
        = countByName("SELECT s.value, count(*) FROM ranges r JOIN strings s ON s.id = r.name_id GROUP BY s.value");
    for (int step = 1; step <= kSteps; ++step)
        EXPECT_EQ(names.count("step " + std::to_string(step)) ? names.at("step " + std::to_string(step)) : 0, 1);
    for (const char* phase : { "forward", "backward", "optimizer", "fragment" })
        EXPECT_EQ(names.count(phase) ? names.at(phase) : 0, kSteps) << phase;
    // Layers 0..L+1 (projection, blocks, head): once in forward and once in backward per step.
    for (int k = 0; k <= kLayers + 1; ++k) {
        const std::string name = "layer " + std::to_string(k);
        EXPECT_EQ(names.count(name) ? names.at(name) : 0, 2 * kSteps) << name;
    }
    // Every layer range sits directly inside forward or backward, which sit inside a step.
    EXPECT_EQ(scalar("SELECT count(*) FROM ranges r JOIN strings s ON s.id = r.name_id "
                     "JOIN ranges p ON p.id = r.parent_id JOIN strings ps ON ps.id = p.name_id "
                     "WHERE s.value LIKE 'layer %' AND ps.value IN ('forward', 'backward')"),
        2 * kSteps * (kLayers + 2));
    EXPECT_EQ(scalar("SELECT count(*) FROM ranges r JOIN strings s ON s.id = r.name_id "
                     "JOIN ranges p ON p.id = r.parent_id JOIN strings ps ON ps.id = p.name_id "
                     "WHERE s.value IN ('forward', 'backward', 'optimizer') AND ps.value LIKE 'step %'"),
        3 * kSteps);
    EXPECT_EQ(scalar("SELECT count(*) FROM ranges WHERE end_ts_ns IS NULL"), 0);
}

TEST_F(TrainRecordTest, SegmentsAreHeapsAndAgreeWithTheTruth)
{
    const auto& a = m_truth["allocator"];
    EXPECT_EQ(scalar("SELECT count(*) FROM pool_heaps"), a["segments_created"].get<int64_t>());
    EXPECT_EQ(scalar("SELECT sum(size_bytes) FROM pool_heaps"), a["segment_bytes_created"].get<int64_t>());
    EXPECT_EQ(
        scalar("SELECT count(*) FROM pool_heaps WHERE usage = 'sub_allocator'"), a["segments_created"].get<int64_t>());
    EXPECT_EQ(peakLive("SELECT size_bytes, register_ts_ns, unregister_ts_ns FROM pool_heaps"),
        a["peak_reserved_bytes"].get<int64_t>());
    // Segments still registered at exit are the ones the planted leak keeps alive.
    EXPECT_EQ(scalar("SELECT coalesce(sum(size_bytes), 0) FROM pool_heaps WHERE unregister_ts_ns IS NULL"),
        a["final_reserved_bytes"].get<int64_t>());
}

TEST_F(TrainRecordTest, BlocksAreNamedRegionsAndAgreeWithTheTruth)
{
    const auto& a = m_truth["allocator"];
    EXPECT_EQ(scalar("SELECT count(*) FROM allocations WHERE heap_id IS NOT NULL"), a["alloc_calls"].get<int64_t>());
    EXPECT_EQ(peakLive("SELECT size_bytes, alloc_ts_ns, free_ts_ns FROM allocations WHERE heap_id IS NOT NULL"),
        a["peak_allocated_bytes"].get<int64_t>());
    // Regions never stick out of their heap.
    EXPECT_EQ(scalar("SELECT count(*) FROM allocations r JOIN pool_heaps h ON h.id = r.heap_id "
                     "WHERE r.address < h.address OR r.address + r.size_bytes > h.address + h.size_bytes"),
        0);
    // Names are the allocator's tags; the per-tag peaks are the truth's.
    const auto names = countByName("SELECT s.value, count(*) FROM allocations r JOIN strings s ON s.id = r.name_id "
                                   "WHERE r.heap_id IS NOT NULL GROUP BY s.value");
    for (const char* tag : { "activation", "activation_grad", "weight", "grad", "optimizer_state", "workspace", "input",
             "leak", "fragment" })
        EXPECT_GT(names.count(tag) ? names.at(tag) : 0, 0) << tag;
    for (const char* tag : { "activation", "weight", "optimizer_state" })
        EXPECT_EQ(peakLive(std::string("SELECT r.size_bytes, r.alloc_ts_ns, r.free_ts_ns FROM allocations r "
                                       "JOIN strings s ON s.id = r.name_id WHERE r.heap_id IS NOT NULL AND s.value = '")
                      + tag + "'"),
            a["by_tag"][tag]["peak_bytes"].get<int64_t>())
            << tag;
}

TEST_F(TrainRecordTest, PlantedLeakIsLiveAtExitWithItsFunctionOnTheStack)
{
    const auto& leak = m_truth["leak"];
    ASSERT_EQ(leak["count"], kSteps / 2);
    EXPECT_EQ(scalar("SELECT count(*) FROM allocations WHERE heap_id IS NOT NULL AND free_ts_ns IS NULL"),
        leak["count"].get<int64_t>());
    EXPECT_EQ(scalar("SELECT sum(size_bytes) FROM allocations WHERE heap_id IS NOT NULL AND free_ts_ns IS NULL"),
        leak["total_bytes"].get<int64_t>());
    // Walk each leaked region's call stack and look for the planted function by name.
    EXPECT_EQ(
        scalar("WITH RECURSIVE chain(leak, id, parent, frame) AS ("
               " SELECT a.id, c.id, c.parent_id, c.frame_id FROM allocations a JOIN callsites c ON c.id = a.callsite_id"
               " WHERE a.heap_id IS NOT NULL AND a.free_ts_ns IS NULL"
               " UNION ALL SELECT chain.leak, c.id, c.parent_id, c.frame_id FROM callsites c JOIN chain ON c.id = "
               "chain.parent)"
               " SELECT count(DISTINCT chain.leak) FROM chain JOIN symbols sy ON sy.frame_id = chain.frame"
               " JOIN strings s ON s.id = sy.function_id WHERE s.value = 'tidemark_train_planted_leak'"),
        leak["count"].get<int64_t>());
}

TEST_F(TrainRecordTest, HostAllocationsBehindTheSegmentsAgreeWithTheTruth)
{
    const auto& a = m_truth["allocator"];
    // On the CPU backend every segment is one posix_memalign: the same address and size as its heap.
    const std::string behind = "FROM allocations m JOIN apis api ON api.id = m.api JOIN pool_heaps h"
                               " ON h.address = m.address AND h.size_bytes = m.size_bytes"
                               " AND m.alloc_ts_ns <= h.register_ts_ns"
                               " WHERE m.heap_id IS NULL AND api.name = 'posix_memalign'";
    EXPECT_EQ(scalar("SELECT count(DISTINCT h.id) " + behind), a["segments_created"].get<int64_t>());
    EXPECT_EQ(scalar("SELECT count(DISTINCT m.id) " + behind), a["segments_created"].get<int64_t>());
    EXPECT_EQ(peakLive("SELECT m.size_bytes, m.alloc_ts_ns, m.free_ts_ns " + behind),
        a["peak_reserved_bytes"].get<int64_t>());
    EXPECT_EQ(scalar("SELECT coalesce(sum(m.size_bytes), 0) " + behind + " AND m.free_ts_ns IS NULL"),
        a["final_reserved_bytes"].get<int64_t>());
}

TEST_F(TrainRecordTest, CpuRunCarriesNoCudaLibraryLoadNoise)
{
    // cuBLAS is dlopen()ed only by the CUDA backend; linked, its static constructors added ~74,000
    // host allocations (most live at exit) to every CPU recording. What is live at exit outside the
    // caching allocator must stay a few dozen (libc, libstdc++, cudart's own, the leak's segments).
    const int64_t liveHost = scalar("SELECT count(*) FROM allocations WHERE heap_id IS NULL AND free_ts_ns IS NULL");
    EXPECT_LT(liveHost, 500);
    EXPECT_EQ(scalar("SELECT count(*) FROM modules WHERE path LIKE '%libcublas%'"), 0);
}
