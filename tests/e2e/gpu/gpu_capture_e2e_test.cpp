// End-to-end tests of the GPU-side capture on real programs: the CUDA runtime hooks under LD_PRELOAD
// in front of the fake cudart TEST DOUBLE, and NVTX injection through NVTX_INJECTION64_PATH. The
// capture code is the real one; the writer is the in-memory test writer (test_emit) that dumps a
// spool file at exit, read back with trace::SpoolReader.
#include "spool_model.h"

#include "trace/enums.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <unistd.h>

namespace fs = std::filesystem;
using namespace tidemark;
using namespace tidemark::gputest;

namespace {

std::string buildDir()
{
    return std::getenv("TIDEMARK_BUILD_DIR") ? std::getenv("TIDEMARK_BUILD_DIR") : ".";
}
std::string captureLib()
{
    return buildDir() + "/tests/lib/libtidemark_gpu_testcapture.so";
}
std::string tempSpool(const char* name)
{
    fs::path dir = fs::temp_directory_path() / ("tidemark_gpu_e2e_" + std::to_string(getpid()));
    fs::create_directories(dir);
    fs::remove(dir / name);
    return (dir / name).string();
}
uint64_t hex(const std::string& s)
{
    return std::stoull(s, nullptr, 16);
}

const wire::AllocRecord* allocAt(const Model& m, uint64_t address)
{
    const wire::AllocRecord* found = nullptr;
    for (const auto& a : m.allocs)
        if (a.address == address)
            found = &a;
    return found;
}

std::string realLib()
{
    return buildDir() + "/lib/tidemark/libtidemark.so";
}

struct AppRun {
    RunResult result;
    Model model;
    bool loaded = false;
    std::vector<std::pair<std::string, std::map<std::string, std::string>>> truth;
};

// The fake-cudart program under either writer: "testwriter" (test_emit, one spool file) or
// "libtidemark" (the real libtidemark.so and its writer, a spool directory).
const AppRun& fakeCudartRun(const std::string& writer)
{
    static std::map<std::string, AppRun> runs;
    auto it = runs.find(writer);
    if (it != runs.end())
        return it->second;
    AppRun& r = runs[writer];
    std::vector<std::string> env = { "TIDEMARK_FAKE_CUDART_CAPACITY=16M", "TIDEMARK_FAKE_CUDART_DEVICES=2" };
    std::string spool;
    if (writer == "testwriter") {
        spool = tempSpool("fake_cudart.spool");
        env.push_back("TIDEMARK_TEST_SPOOL=" + spool);
        env.push_back("LD_PRELOAD=" + captureLib());
        env.push_back("NVTX_INJECTION64_PATH=" + captureLib());
    } else {
        spool = tempSpool("fake_cudart_spooldir");
        fs::create_directories(spool);
        env.push_back("TIDEMARK_SPOOL_DIR=" + spool);
        env.push_back("LD_PRELOAD=" + realLib());
        env.push_back("NVTX_INJECTION64_PATH=" + realLib());
    }
    r.result = run({ buildDir() + "/tests/bin/fake_cudart_app" }, env);
    std::string error;
    r.loaded = loadSpool(spool, r.model, error);
    r.truth = truthLines(r.result.out);
    return r;
}

class FakeCudartRun : public ::testing::TestWithParam<std::string> {
protected:
    void SetUp() override
    {
        const AppRun& r = fakeCudartRun(GetParam());
        result = r.result;
        model = r.model;
        loaded = r.loaded;
        truth = r.truth;
    }
    RunResult result;
    Model model;
    bool loaded = false;
    std::vector<std::pair<std::string, std::map<std::string, std::string>>> truth;
};

TEST_P(FakeCudartRun, ProgramRanAndSpoolIsReadable)
{
    ASSERT_EQ(result.exitCode, 0) << result.out;
    ASSERT_TRUE(loaded);
    EXPECT_EQ(model.badRecords, 0u);
}

TEST_P(FakeCudartRun, EveryAllocationHasDeviceSizeStackAndPhase)
{
    uint64_t exeLo = 0, exeHi = 0;
    size_t expected = 0;
    for (auto& [kind, f] : truth) {
        if (kind == "exe") {
            exeLo = hex(f["lo"]);
            exeHi = hex(f["hi"]);
        }
        if (kind != "alloc")
            continue;
        ++expected;
        const wire::AllocRecord* a = allocAt(model, hex(f["ptr"]));
        ASSERT_NE(a, nullptr) << "no record for " << f["api"] << " at " << f["ptr"];
        EXPECT_EQ(apiName(static_cast<Api>(a->api)), f["api"]);
        EXPECT_EQ(spaceKindName(static_cast<SpaceKind>(a->space_kind)), f["space"]);
        if (f["space"] == "device") {
            EXPECT_EQ(a->device, std::stoi(f["device"])) << f["api"];
        }
        EXPECT_EQ(a->size, std::stoull(f["size"])) << f["api"];
        EXPECT_EQ(a->source, kSourcePreload);
        EXPECT_EQ(model.rangeName(a->range_id), f["phase"]) << f["api"];
        auto stack = model.stacks.find(a->stack_id);
        ASSERT_NE(stack, model.stacks.end()) << f["api"] << " has no stack";
        bool reachesMain = false;
        for (uint64_t ip : stack->second)
            reachesMain |= ip >= exeLo && ip < exeHi;
        EXPECT_TRUE(reachesMain) << f["api"] << ": no frame of the program itself in its stack";
    }
    EXPECT_EQ(expected, 8u);
    EXPECT_EQ(model.allocs.size(), expected) << "records for allocations the program did not make";
}

TEST_P(FakeCudartRun, FreesCarryTheAllocationsSpaceAndDevice)
{
    size_t expected = 0;
    for (auto& [kind, f] : truth) {
        if (kind != "free")
            continue;
        ++expected;
        uint64_t ptr = hex(f["ptr"]);
        const wire::AllocRecord* a = allocAt(model, ptr);
        ASSERT_NE(a, nullptr);
        const wire::FreeRecord* fr = nullptr;
        for (const auto& r : model.frees)
            if (r.address == ptr)
                fr = &r;
        ASSERT_NE(fr, nullptr) << "no free record for " << f["ptr"];
        EXPECT_EQ(apiName(static_cast<Api>(fr->api)), f["api"]);
        // Device-0 memory is freed while device 1 is current: the hook must still say device 0.
        EXPECT_EQ(fr->space_kind, a->space_kind) << f["api"];
        EXPECT_EQ(fr->device, a->device) << f["api"];
        EXPECT_GE(fr->ts_ns, a->ts_ns);
    }
    EXPECT_EQ(model.frees.size(), expected);
}

TEST_P(FakeCudartRun, FailedAllocationHasMemGetInfoAndItsLiveSet)
{
    ASSERT_EQ(model.failures.size(), 1u);
    const wire::AllocFailedRecord& f = model.failures[0];
    std::map<std::string, std::string> t;
    for (auto& [kind, fields] : truth)
        if (kind == "failed")
            t = fields;
    ASSERT_FALSE(t.empty());
    EXPECT_EQ(f.size, std::stoull(t["size"]));
    EXPECT_EQ(f.error_code, std::stoi(t["error"]));
    EXPECT_EQ(f.error_code, 2) << "cudaErrorMemoryAllocation";
    EXPECT_EQ(f.device, 0);
    EXPECT_EQ(f.device_free_bytes, std::stoull(t["free"]));
    EXPECT_EQ(f.device_total_bytes, 16ull << 20);
    EXPECT_EQ(model.rangeName(f.range_id), "oom");
    EXPECT_NE(model.stacks.count(f.stack_id), 0u);
    // The live set at the failure, rebuilt from the records, is what the program holds on device 0
    // and what the (fake) device reports as used.
    uint64_t live = 0;
    for (const auto& a : model.allocs) {
        if (a.space_kind != static_cast<uint8_t>(SpaceKind::Device) || a.device != 0 || a.ts_ns > f.ts_ns)
            continue;
        bool freed = false;
        for (const auto& fr : model.frees)
            freed |= fr.address == a.address && fr.ts_ns < f.ts_ns;
        live += freed ? 0 : a.size;
    }
    EXPECT_EQ(live, std::stoull(t["live"]));
    EXPECT_EQ(live, f.device_total_bytes - f.device_free_bytes);
}

TEST_P(FakeCudartRun, CoverageCountsEachApi)
{
    auto stat = [&](const std::string& name) {
        auto it = model.stats.find(name);
        return it == model.stats.end() ? UINT64_MAX : it->second.first;
    };
    EXPECT_EQ(stat("cuda.hook.cudaMalloc"), 4u) << "3 successful + 1 failed";
    EXPECT_EQ(stat("cuda.failed.cudaMalloc"), 1u);
    EXPECT_EQ(stat("cuda.hook.cudaFree"), 5u);
    EXPECT_EQ(stat("cuda.hook.cudaFreeAsync"), 1u);
    EXPECT_EQ(stat("cuda.hook.cudaMallocAsync"), 1u);
    EXPECT_EQ(stat("cuda.hook.cudaMallocHost"), 1u);
    EXPECT_EQ(stat("cuda.hook.cudaMallocPitch"), 1u);
    EXPECT_EQ(stat("cuda.hook.cudaMalloc3D"), 1u);
    EXPECT_EQ(stat("cuda.hooks"), 16u) << "every hooked call, failed ones included";
    EXPECT_EQ(stat("cuda.hook.cudaHostAlloc"), UINT64_MAX) << "never called, never reported as seen";
}

TEST_P(FakeCudartRun, CudartsOwnHostAllocationsAreNotCountedTwice)
{
    // The fake runtime backs "device" memory with aligned_alloc: were the hooks not holding a
    // ReentryGuard around the real call, the malloc hooks would record it as host memory too.
    for (const auto& h : model.hostAllocs)
        for (const auto& a : model.allocs)
            EXPECT_NE(h.address, a.address) << "host record for the " << apiName(static_cast<Api>(a.api)) << " buffer";
}

INSTANTIATE_TEST_SUITE_P(Writers, FakeCudartRun, ::testing::Values("testwriter", "libtidemark"));

TEST(FakeCudartFork, EachProcessReportsOnlyItsOwnCalls)
{
    std::string dir = tempSpool("fork_spooldir");
    fs::create_directories(dir);
    RunResult r = run({ buildDir() + "/tests/bin/fake_cudart_app", "fork" },
        { "LD_PRELOAD=" + realLib(), "TIDEMARK_SPOOL_DIR=" + dir, "TIDEMARK_FAKE_CUDART_CAPACITY=16M" });
    ASSERT_EQ(r.exitCode, 0) << r.out;
    std::map<uint32_t, std::map<std::string, std::string>> expected; // pid -> truth
    for (auto& [kind, f] : truthLines(r.out))
        if (kind == "child" || kind == "parent")
            expected[static_cast<uint32_t>(std::stoul(f["pid"]))] = f;
    ASSERT_EQ(expected.size(), 2u);
    int files = 0;
    for (const auto& e : fs::directory_iterator(dir)) {
        Model m;
        std::string error;
        ASSERT_TRUE(loadSpool(e.path().string(), m, error)) << error;
        ASSERT_EQ(expected.count(m.pid), 1u) << "spool of an unknown pid " << m.pid;
        auto& t = expected[m.pid];
        EXPECT_EQ(m.stats["cuda.hook.cudaMalloc"].first, std::stoull(t["mallocs"])) << "pid " << m.pid;
        EXPECT_EQ(m.stats.count("cuda.hook.cudaFree"), t["frees"] == "0" ? 0u : 1u) << "pid " << m.pid;
        EXPECT_EQ(m.allocs.size(), std::stoull(t["mallocs"])) << "pid " << m.pid;
        ++files;
    }
    EXPECT_EQ(files, 2);
}

TEST(CudaHooks, RuntimeLoadedWithRtldLocalIsStillFound)
{
    std::string dir = tempSpool("dlopen_spooldir");
    fs::create_directories(dir);
    RunResult r = run({ buildDir() + "/tests/bin/dlopen_cuda_app", buildDir() + "/tests/lib" },
        { "LD_PRELOAD=" + realLib(), "TIDEMARK_SPOOL_DIR=" + dir, "TIDEMARK_FAKE_CUDART_CAPACITY=16M" });
    ASSERT_EQ(r.exitCode, 0) << "the hooked cudaMalloc failed: " << r.out;
    Model m;
    std::string error;
    ASSERT_TRUE(loadSpool(dir, m, error)) << error;
    std::map<std::string, std::string> t;
    for (auto& [kind, f] : truthLines(r.out))
        if (kind == "alloc")
            t = f;
    ASSERT_EQ(m.allocs.size(), 1u);
    EXPECT_EQ(m.allocs[0].address, hex(t["ptr"]));
    EXPECT_EQ(m.allocs[0].size, std::stoull(t["size"]));
    EXPECT_EQ(m.frees.size(), 1u);
}

class NvtxRun : public ::testing::Test { };

TEST_F(NvtxRun, InjectionThroughTheEnvironmentAcrossTwoLinkageUnits)
{
    std::string spool = tempSpool("nvtx.spool");
    RunResult r = run({ buildDir() + "/tests/bin/nvtx_app", "3" },
        { "NVTX_INJECTION64_PATH=" + captureLib(), "TIDEMARK_TEST_SPOOL=" + spool });
    ASSERT_EQ(r.exitCode, 0) << r.out;
    Model m;
    std::string error;
    ASSERT_TRUE(loadSpool(spool, m, error)) << error;
    EXPECT_EQ(m.ranges.size(), 6u);
    EXPECT_EQ(m.rangeEnds.size(), 6u);
    int steps = 0, helpers = 0;
    for (const auto& [id, range] : m.ranges) {
        EXPECT_EQ(m.text(range.domain_id), "tidemark-test") << "same domain from both linkage units";
        if (m.text(range.name_id) == "train_step")
            ++steps;
        if (m.text(range.name_id) == "helper") {
            ++helpers;
            EXPECT_EQ(m.rangeName(range.parent_id), "train_step");
        }
    }
    EXPECT_EQ(steps, 3);
    EXPECT_EQ(helpers, 3);
    EXPECT_EQ(m.stats["nvtx.injection"].first, 2u) << "two linkage units initialised";
    ASSERT_EQ(m.heaps.size(), 1u);
    size_t regions = 0, unregisters = 0;
    for (auto& [kind, f] : truthLines(r.out)) {
        if (kind == "heap") {
            EXPECT_EQ(m.heaps[0].address, hex(f["ptr"]));
            EXPECT_EQ(m.heaps[0].size, std::stoull(f["size"]));
        }
        if (kind == "region") {
            bool found = false;
            for (const auto& reg : m.regions)
                if (reg.address == hex(f["ptr"]) && reg.size == std::stoull(f["size"])) {
                    found = true;
                    EXPECT_EQ(reg.heap_id, m.heaps[0].heap_id);
                    EXPECT_EQ(m.rangeName(reg.range_id), f["phase"]);
                }
            EXPECT_TRUE(found) << f["ptr"];
            ++regions;
        }
        if (kind == "unregister")
            ++unregisters;
    }
    EXPECT_EQ(m.regions.size(), regions);
    EXPECT_EQ(m.regionEvents.size(), unregisters);
    ASSERT_EQ(m.marks.size(), 1u);
    EXPECT_EQ(m.text(m.marks[0].name_id), "done");
}

TEST_F(NvtxRun, DisabledByEnvironmentRecordsNothingAndTheProgramStillRuns)
{
    std::string spool = tempSpool("nvtx_off.spool");
    RunResult r = run({ buildDir() + "/tests/bin/nvtx_app", "2" },
        { "NVTX_INJECTION64_PATH=" + captureLib(), "TIDEMARK_TEST_SPOOL=" + spool, "TIDEMARK_NVTX=0" });
    ASSERT_EQ(r.exitCode, 0) << r.out;
    Model m;
    std::string error;
    if (loadSpool(spool, m, error)) {
        EXPECT_TRUE(m.ranges.empty());
        EXPECT_TRUE(m.regions.empty());
    }
}

} // namespace

namespace {

std::string shell(const std::string& command)
{
    std::string out;
    FILE* p = popen(command.c_str(), "r");
    if (!p)
        return out;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), p)) > 0)
        out.append(buf, n);
    pclose(p);
    return out;
}

TEST(CaptureLibrary, ExportsTheThreeEntryPoints)
{
    std::string nm = shell("nm -D --defined-only " + realLib());
    for (const char* symbol : { " InitializeInjection\n", " InitializeInjectionNvtx2\n",
             " InitializeInjectionNvtxExtension\n", " cudaMalloc\n", " cudaFreeAsync\n" })
        EXPECT_NE(nm.find(symbol), std::string::npos) << "libtidemark.so does not export" << symbol;
}

TEST(CaptureLibrary, OnlyTheCompanionLinksLibcupti)
{
    std::string preload = shell("readelf -d " + realLib());
    std::string companion = shell("readelf -d " + buildDir() + "/lib/tidemark/libtidemark_cupti.so");
    EXPECT_EQ(preload.find("libcupti"), std::string::npos) << "every LD_PRELOADed process would load libcupti";
    EXPECT_NE(companion.find("libcupti.so"), std::string::npos);
    std::string exported = shell("nm -D --defined-only " + buildDir() + "/lib/tidemark/libtidemark_cupti.so");
    EXPECT_NE(exported.find(" tidemark_cupti_start\n"), std::string::npos);
}

// InitializeInjection as cuInit would call it. Without a GPU driver libcupti cannot subscribe, and
// the recording must say so (and why) instead of failing or staying silent.
Model injectionRun(const std::vector<std::string>& extraEnv, const char* name, RunResult& r)
{
    std::string spool = tempSpool(name);
    fs::create_directories(spool);
    std::vector<std::string> env
        = { "LD_PRELOAD=" + realLib(), "CUDA_INJECTION64_PATH=" + realLib(), "TIDEMARK_SPOOL_DIR=" + spool };
    env.insert(env.end(), extraEnv.begin(), extraEnv.end());
    r = run({ buildDir() + "/tests/bin/cupti_init_app" }, env);
    Model m;
    std::string error;
    EXPECT_TRUE(loadSpool(spool, m, error)) << error;
    return m;
}

TEST(CuptiInjection, ReportsWhyCuptiIsUnavailableWithoutADriver)
{
    RunResult r;
    Model m = injectionRun({}, "cupti_nodriver", r);
    ASSERT_EQ(r.exitCode, 0) << r.out;
    EXPECT_NE(r.out.find("first=1 second=1"), std::string::npos) << r.out;
    ASSERT_EQ(m.stats.count("cupti"), 1u);
    EXPECT_EQ(m.stats["cupti"].first, 0u);
    // The companion was loaded and the real libcupti answered (no driver on this machine).
    EXPECT_EQ(m.stats["cupti"].second.rfind("not subscribed: cuptiSubscribe_v2 failed: CUPTI_ERROR", 0), 0u)
        << m.stats["cupti"].second;
    ASSERT_EQ(m.stats.count("cuda.hooks"), 1u);
    EXPECT_EQ(m.stats["cuda.hooks"].first, 0u);
    EXPECT_NE(m.stats["cuda.hooks"].second.find("only CUPTI callbacks can see"), std::string::npos);
}

TEST(CuptiInjection, DisabledByEnvironment)
{
    RunResult r;
    Model m = injectionRun({ "TIDEMARK_CUPTI=0" }, "cupti_off", r);
    ASSERT_EQ(r.exitCode, 0);
    EXPECT_EQ(m.stats["cupti"].second, "disabled by TIDEMARK_CUPTI=0");
}

TEST(CuptiInjection, MissingCompanionIsReportedNotFatal)
{
    RunResult r;
    Model m = injectionRun({ "TIDEMARK_CUPTI_LIBRARY=/nonexistent/libtidemark_cupti.so" }, "cupti_missing", r);
    ASSERT_EQ(r.exitCode, 0);
    EXPECT_EQ(m.stats["cupti"].second.rfind("CUPTI not used: cannot load the companion library", 0), 0u)
        << m.stats["cupti"].second;
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
            fs::remove_all(fs::temp_directory_path() / ("tidemark_gpu_e2e_" + std::to_string(getpid())), ignored);
        }
    }
};
const auto* g_cleanup = ::testing::AddGlobalTestEnvironment(new TempCleanup);

} // namespace
