// Kineto import: a crafted trace with hand-derived rows, and the real traces checked against what they
// state themselves: the maximum "Total Allocated" equals the peak of our rows (a sweep computed here),
// event counts equal row counts, and the 8-rank tarball becomes 8 ranked processes.
#include "import_test_support.h"

#include "analysis/import/input_bytes.h"

#include <nlohmann/json.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <random>
#include <set>
#include <sstream>

using namespace tidemark;
using namespace tidemark::import;
using namespace tidemark::import::test;
using json = nlohmann::json;

namespace {

std::string spaceFilter(const std::string& name)
{
    return "space_id = (SELECT id FROM spaces WHERE name = '" + name + "')";
}

// Peak of live bytes in a space, by a sweep over allocation rows (frees before allocs at equal times).
int64_t sweepPeak(trace::Db& db, const std::string& space)
{
    auto st = db.prepare("SELECT alloc_ts_ns, size_bytes FROM allocations WHERE " + spaceFilter(space)
        + " UNION ALL SELECT free_ts_ns, -size_bytes FROM allocations WHERE free_ts_ns IS NOT NULL AND " + spaceFilter(space));
    EXPECT_TRUE(st.ok());
    std::vector<std::pair<int64_t, int64_t>> deltas;
    while (st->step())
        deltas.push_back({ st->int64(0), st->int64(1) });
    std::sort(deltas.begin(), deltas.end());
    int64_t live = 0, peak = 0;
    for (const auto& [ts, d] : deltas) {
        live += d;
        peak = std::max(peak, live);
    }
    return peak;
}

json loadJson(const std::string& path)
{
    std::string data = readAll(path);
    if (isGzip(data))
        data = *gunzip(data);
    return json::parse(data);
}

struct MemoryFigures {
    int64_t maxTotalAllocated = 0, frees = 0, allocs = 0;
};

MemoryFigures cudaMemoryFigures(const json& trace, int64_t device)
{
    MemoryFigures f;
    for (const json& e : trace["traceEvents"]) {
        if (e.value("name", "") != "[memory]" || e["args"].value("Device Type", -1) != 1 || e["args"].value("Device Id", -1) != device)
            continue;
        f.maxTotalAllocated = std::max(f.maxTotalAllocated, e["args"].value("Total Allocated", int64_t { 0 }));
        (e["args"]["Bytes"].get<int64_t>() < 0 ? f.frees : f.allocs)++;
    }
    return f;
}

int64_t countCat(const json& trace, std::initializer_list<const char*> cats)
{
    int64_t n = 0;
    for (const json& e : trace["traceEvents"])
        for (const char* c : cats)
            n += e.value("ph", "") == "X" && e.value("cat", "") == c;
    return n;
}

// Ranges: user annotations, and the profiler's steps where old traces record them as operators.
int64_t countRanges(const json& trace)
{
    int64_t n = countCat(trace, { "user_annotation" });
    for (const json& e : trace["traceEvents"])
        n += e.value("ph", "") == "X" && (e.value("cat", "") == "cpu_op" || e.value("cat", "") == "Operator")
            && e.value("name", "").rfind("ProfilerStep#", 0) == 0;
    return n;
}

} // namespace

TEST(KinetoImport, TinyTraceRowsFollowTheRules)
{
    trace::Db db = importAndOpen(fixture("tiny_kineto.json.gz"), "tinykineto.tmdb");
    ASSERT_NE(db.handle(), nullptr);
    EXPECT_EQ(*trace::getMeta(db, "source"), "import:kineto");
    EXPECT_EQ(queryInt(db, "SELECT rank FROM processes"), 3);
    EXPECT_EQ(queryInt(db, "SELECT pid FROM processes"), 77);
    EXPECT_EQ(queryInt(db, "SELECT capacity_bytes FROM spaces WHERE name = 'cuda:0'"), 1 << 30);
    // cuda:0: 4096 [110, 150] us, 8192 from 110 us (+1 ns, same microsecond), and 1000 bytes from before.
    EXPECT_EQ(queryInt(db, "SELECT count(*) FROM allocations WHERE " + spaceFilter("cuda:0")), 3);
    EXPECT_EQ(queryInt(db, "SELECT free_ts_ns - alloc_ts_ns FROM allocations WHERE address = 4096"), 40000);
    EXPECT_EQ(queryInt(db, "SELECT alloc_ts_ns FROM allocations WHERE address = 8192"), 110001);
    EXPECT_EQ(queryInt(db, "SELECT size_bytes FROM allocations WHERE address = 0 AND free_ts_ns IS NULL AND " + spaceFilter("cuda:0")), 1000);
    EXPECT_EQ(sweepPeak(db, "cuda:0"), 2200);
    EXPECT_EQ(queryInt(db, "SELECT count(*) FROM allocations WHERE " + spaceFilter("host")), 1);
    EXPECT_EQ(queryInt(db, "SELECT count(*) FROM samples"), 4);
    EXPECT_EQ(queryInt(db, "SELECT max(reserved_bytes) FROM samples"), 4000);
    // Annotations nest; the first allocation was made inside 'forward' on thread 'main'.
    EXPECT_EQ(queryInt(db, "SELECT count(*) FROM ranges"), 2);
    EXPECT_EQ(queryInt(db, "SELECT depth FROM ranges r JOIN strings s ON s.id = r.name_id WHERE s.value = 'forward'"), 1);
    EXPECT_EQ(queryInt(db, "SELECT count(*) FROM allocations a JOIN ranges r ON r.id = a.range_id JOIN strings s ON s.id = r.name_id"
                           " JOIN threads t ON t.id = a.thread_id WHERE a.address = 4096 AND s.value = 'forward' AND t.name = 'main'"), 1);
    // Stacks: the operator that allocated (aten::empty) inside the Python function around it.
    EXPECT_EQ(queryInt(db, "SELECT count(*) FROM allocations a JOIN callsites c ON c.id = a.callsite_id"
                           " JOIN symbols s ON s.frame_id = c.frame_id JOIN strings f ON f.id = s.function_id"
                           " JOIN callsites p ON p.id = c.parent_id JOIN symbols ps ON ps.frame_id = p.frame_id"
                           " JOIN strings pf ON pf.id = ps.function_id JOIN strings pfile ON pfile.id = ps.file_id"
                           " WHERE a.address IN (4096, 8192) AND f.value = 'aten::empty' AND pf.value = 'forward'"
                           " AND pfile.value = 'model.py' AND ps.line = 42"),
        2);
    // GPU activity.
    EXPECT_EQ(queryInt(db, "SELECT end_ts_ns - start_ts_ns FROM kernels"), 5500);
    EXPECT_EQ(queryInt(db, "SELECT grid_x * block_x FROM kernels"), 256);
    EXPECT_EQ(queryInt(db, "SELECT registers_per_thread FROM kernels"), 32);
    EXPECT_EQ(queryInt(db, "SELECT count(*) FROM memcpys WHERE copy_kind = 'HtoD' AND size_bytes = 4096"), 1);
    EXPECT_EQ(queryInt(db, "SELECT size_bytes FROM memsets"), 128);
}

TEST(KinetoRealData, PeakEqualsTheMaximumTotalAllocatedOfTheTrace)
{
    struct Case {
        const char* file;
        int device;
    };
    const Case cases[] = {
        { "kineto/hta__df_index_resolver_ddp2_v100_rank1_memory.json.gz", 1 },
        { "kineto/tracelens__h100_qwen1.5-0.5b_inference_memory.redacted.json.gz", 0 },
    };
    TIDEMARK_REQUIRE_REALDATA(first, cases[0].file);
    int n = 0;
    for (const Case& c : cases) {
        std::string path = realdata(c.file);
        SCOPED_TRACE(path);
        json trace = loadJson(path);
        MemoryFigures fig = cudaMemoryFigures(trace, c.device);
        ASSERT_GT(fig.maxTotalAllocated, 0);
        trace::Db db = importAndOpen(path, "kreal" + std::to_string(n++) + ".tmdb");
        ASSERT_NE(db.handle(), nullptr);
        std::string space = "cuda:" + std::to_string(c.device);
        EXPECT_EQ(sweepPeak(db, space), fig.maxTotalAllocated);
        EXPECT_EQ(queryInt(db, "SELECT count(*) FROM allocations WHERE free_ts_ns IS NOT NULL AND " + spaceFilter(space)), fig.frees);
        EXPECT_EQ(queryInt(db, "SELECT count(*) FROM allocations WHERE address != 0 AND " + spaceFilter(space)), fig.allocs);
        // Every memory event of these traces happens inside an operator: each lifetime has a stack.
        EXPECT_EQ(queryInt(db, "SELECT count(*) FROM allocations WHERE address != 0 AND callsite_id IS NULL"), 0);
        EXPECT_EQ(queryInt(db, "SELECT count(*) FROM kernels"), countCat(trace, { "kernel" }));
        EXPECT_EQ(queryInt(db, "SELECT count(*) FROM memcpys"), countCat(trace, { "gpu_memcpy" }));
        EXPECT_EQ(queryInt(db, "SELECT count(*) FROM memsets"), countCat(trace, { "gpu_memset" }));
        EXPECT_EQ(queryInt(db, "SELECT count(*) FROM ranges"), countRanges(trace));
        EXPECT_EQ(queryInt(db, "SELECT rank IS NOT NULL FROM processes"), trace.contains("distributedInfo") ? 1 : 0);
    }
}

TEST(KinetoRealData, LegacyTraceWithoutAddressesBecomesTotalsOnly)
{
    TIDEMARK_REQUIRE_REALDATA(path, "kineto/kineto_tb_plugin__resnet50_v100_2021_legacy_memory.pt.trace.json.gz");
    json trace = loadJson(path);
    int64_t memoryEvents = 0, kernels = countCat(trace, { "Kernel" }), copies = countCat(trace, { "Memcpy" });
    for (const json& e : trace["traceEvents"])
        memoryEvents += e.value("name", "") == "[memory]";
    trace::Db db = importAndOpen(path, "legacy.tmdb");
    ASSERT_NE(db.handle(), nullptr);
    EXPECT_EQ(queryInt(db, "SELECT count(*) FROM allocations"), 0);
    EXPECT_EQ(queryInt(db, "SELECT count(*) FROM samples"), memoryEvents);
    EXPECT_NE(trace::getMeta(db, "kineto.memory")->find("totals only"), std::string::npos);
    EXPECT_EQ(queryInt(db, "SELECT count(*) FROM kernels"), kernels);
    EXPECT_EQ(queryInt(db, "SELECT count(*) FROM memcpys"), copies);
    EXPECT_EQ(queryInt(db, "SELECT count(*) FROM ranges"), countRanges(trace));
    EXPECT_GT(queryInt(db, "SELECT count(*) FROM ranges"), 0);
}

TEST(KinetoRealData, EightRankTarballImportsAsRanks)
{
    TIDEMARK_REQUIRE_REALDATA(path, "kineto/param__dlrm_kineto_8rank_v100.tar.gz");
    // Ground truth from the archive's own files, unpacked with tar(1).
    std::string dir = scratch("dlrm");
    std::filesystem::create_directories(dir);
    ASSERT_EQ(std::system(("tar xzf '" + path + "' -C '" + dir + "'").c_str()), 0);
    int64_t kernels = 0;
    std::set<int64_t> ranks;
    for (const auto& entry : std::filesystem::recursive_directory_iterator(dir))
        if (entry.path().extension() == ".json") {
            json t = loadJson(entry.path().string());
            kernels += countCat(t, { "kernel" });
            ranks.insert(t["distributedInfo"]["rank"].get<int64_t>());
        }
    ASSERT_EQ(ranks.size(), 8u);
    trace::Db db = importAndOpen(path, "dlrm.tmdb");
    ASSERT_NE(db.handle(), nullptr);
    EXPECT_EQ(queryInt(db, "SELECT count(*) FROM processes"), 8);
    EXPECT_EQ(queryInt(db, "SELECT count(DISTINCT rank) FROM processes"), 8);
    EXPECT_EQ(queryInt(db, "SELECT min(rank) FROM processes"), *ranks.begin());
    EXPECT_EQ(queryInt(db, "SELECT max(rank) FROM processes"), *ranks.rbegin());
    EXPECT_EQ(queryInt(db, "SELECT count(*) FROM kernels"), kernels);
    EXPECT_EQ(queryInt(db, "SELECT count(DISTINCT process_id) FROM kernels"), 8);
}

TEST(KinetoImport, LargeGeneratedTraceStreamsWithProgressAndKeepsThePeak)
{
    // 400k memory events: random allocation sizes, frees in random order, a running Total Allocated
    // that starts with 1 GiB allocated before the trace.
    std::mt19937_64 rng(5);
    std::string path = scratch("large.json");
    int64_t total = 1 << 30, maxTotal = total;
    {
        std::ofstream out(path);
        out << "{\"schemaVersion\": 1, \"traceEvents\": [\n";
        std::vector<std::pair<int64_t, int64_t>> live;
        int64_t ts = 1000, nextAddr = 1 << 20;
        for (int i = 0; i < 400000; ++i) {
            bool alloc = live.empty() || rng() % 100 < 52;
            int64_t addr, bytes;
            if (alloc) {
                addr = nextAddr;
                bytes = 512 * static_cast<int64_t>(1 + rng() % 4096);
                nextAddr += bytes;
                live.push_back({ addr, bytes });
            } else {
                size_t k = rng() % live.size();
                addr = live[k].first;
                bytes = -live[k].second;
                live[k] = live.back();
                live.pop_back();
            }
            total += bytes;
            maxTotal = std::max(maxTotal, total);
            ts += static_cast<int64_t>(rng() % 3);
            out << (i ? ",\n" : "") << "{\"ph\": \"i\", \"cat\": \"cpu_instant_event\", \"name\": \"[memory]\", \"pid\": 1, \"tid\": 1, \"ts\": "
                << ts << ", \"args\": {\"Addr\": " << addr << ", \"Bytes\": " << bytes << ", \"Total Allocated\": " << total
                << ", \"Total Reserved\": " << (int64_t { 64 } << 30) << ", \"Device Type\": 1, \"Device Id\": 0}}";
        }
        out << "]}\n";
    }
    std::vector<std::pair<std::string, double>> progress;
    ImportOptions options;
    options.progress = [&](std::string_view stage, double f) { progress.push_back({ std::string(stage), f }); };
    std::string outPath = scratch("large.tmdb");
    auto start = std::chrono::steady_clock::now();
    auto r = importFile(path, outPath, options);
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    ASSERT_TRUE(r.ok()) << r.error().message;
    std::printf("imported %lld memory events (%.1f MB of JSON) in %.2f s\n", 400000LL,
        static_cast<double>(std::filesystem::file_size(path)) / 1e6, seconds);
    int readingReports = 0;
    double last = 0;
    for (const auto& [stage, f] : progress)
        if (stage == "reading trace events") {
            ++readingReports;
            EXPECT_GE(f, last);
            last = f;
        }
    EXPECT_GE(readingReports, 10);
    EXPECT_DOUBLE_EQ(last, 1.0);
    auto db = trace::openRecording(outPath);
    ASSERT_TRUE(db.ok());
    EXPECT_EQ(sweepPeak(*db, "cuda:0"), maxTotal);
}
