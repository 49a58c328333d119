// End-to-end tests of the capture library alone: run test programs under LD_PRELOAD with a spool
// directory and compare the spool files (read with trace::SpoolReader) against the ground truth
// the programs print themselves: exact counts and bytes per API, peak, leak and its stack, one file
// per process image, fork and exec, SIGKILL and SIGSEGV, and the environment switches.
#include "spool_summary.h"

#include "trace/enums.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

using tidemark::Api;
using tidemark::test::SpoolSummary;
using tidemark::test::spoolFilesIn;
using tidemark::test::summarizeSpool;
namespace wire = tidemark::wire;
using json = nlohmann::json;

namespace {

constexpr uint64_t kMarkBegin = 7777771, kMarkEnd = 7777773;

std::string makeTempDir()
{
    char tmpl[] = "/tmp/tidemark-capture-XXXXXX";
    const char* d = mkdtemp(tmpl);
    return d ? d : "";
}

// Starts PROGRAM ARGS with extra environment entries; returns the pid.
pid_t spawn(const std::vector<std::string>& args, const std::vector<std::string>& env)
{
    pid_t pid = fork();
    if (pid == 0) {
        for (const std::string& e : env)
            putenv(strdup(e.c_str()));
        std::vector<char*> argv;
        for (const std::string& a : args)
            argv.push_back(const_cast<char*>(a.c_str()));
        argv.push_back(nullptr);
        execv(argv[0], argv.data());
        _exit(127);
    }
    return pid;
}

int waitStatus(pid_t pid)
{
    int status = 0;
    waitpid(pid, &status, 0);
    return status;
}

struct PatternRun {
    std::string dir;
    std::string truthPath;
    int status = 0;
    json truth;
};

PatternRun runPattern(const std::string& mode, std::vector<std::string> env = {}, const std::string& extraArg = "",
    const std::string& program = TIDEMARK_HOST_PATTERN)
{
    PatternRun r;
    r.dir = makeTempDir();
    r.truthPath = r.dir + "/truth.json";
    std::string spool = r.dir + "/spool";
    mkdir(spool.c_str(), 0755);
    env.push_back("LD_PRELOAD=" TIDEMARK_PRELOAD_PATH);
    env.push_back("TIDEMARK_SPOOL_DIR=" + spool);
    std::vector<std::string> args { program, mode, r.truthPath };
    if (!extraArg.empty())
        args.push_back(extraArg);
    r.status = waitStatus(spawn(args, env));
    std::ifstream in(r.truthPath);
    if (in)
        r.truth = json::parse(in, nullptr, false);
    r.dir = spool;
    return r;
}

SpoolSummary summarize(const std::string& path)
{
    SpoolSummary s;
    std::string error;
    EXPECT_TRUE(summarizeSpool(path, s, error, kMarkBegin, kMarkEnd)) << error;
    return s;
}

const char* const kApiNames[] = { "", "malloc", "calloc", "realloc", "posix_memalign", "aligned_alloc", "memalign",
    "valloc", "pvalloc", "reallocarray" };

// Counts and bytes per API, plain frees, realloc frees: exact.
void expectApis(const SpoolSummary& s, const json& apis)
{
    for (int api = 1; api <= 9; ++api) {
        SCOPED_TRACE(kApiNames[api]);
        auto it = s.allocs.find(uint16_t(api));
        uint64_t count = it == s.allocs.end() ? 0 : it->second.count;
        uint64_t bytes = it == s.allocs.end() ? 0 : it->second.bytes;
        EXPECT_EQ(count, apis[kApiNames[api]]["count"].get<uint64_t>());
        EXPECT_EQ(bytes, apis[kApiNames[api]]["bytes"].get<uint64_t>());
    }
    auto freesOf = [&](Api api) {
        auto it = s.frees.find(uint16_t(api));
        return it == s.frees.end() ? uint64_t(0) : it->second;
    };
    EXPECT_EQ(freesOf(Api::Free), apis["frees"].get<uint64_t>());
    uint64_t rounds = apis["calloc"]["count"].get<uint64_t>(); // one calloc per round
    EXPECT_EQ(freesOf(Api::Realloc), 3 * rounds);               // 200, 1000, 40 each free their predecessor
    EXPECT_EQ(freesOf(Api::Reallocarray), rounds);
    EXPECT_EQ(s.unmatchedFrees, 0u);
}

// Size of a symbol in the program's ELF symbol table (nm -S), 0 if not found.
uint64_t symbolSize(const std::string& binary, const std::string& symbol)
{
    std::string cmd = "nm -S --defined-only '" + binary + "'";
    FILE* p = popen(cmd.c_str(), "r");
    if (!p)
        return 0;
    char line[512];
    uint64_t size = 0;
    while (fgets(line, sizeof(line), p)) {
        char addr[64], sz[64], type[8], name[256];
        if (sscanf(line, "%63s %63s %7s %255s", addr, sz, type, name) == 4 && symbol == name)
            size = std::strtoull(sz, nullptr, 16);
    }
    pclose(p);
    return size;
}

TEST(HostCapture, PatternCountsBytesPeakAndLeakAreExact)
{
    PatternRun run = runPattern("pattern");
    ASSERT_TRUE(WIFEXITED(run.status) && WEXITSTATUS(run.status) == 0);
    ASSERT_TRUE(run.truth.is_object());
    auto files = spoolFilesIn(run.dir);
    ASSERT_EQ(files.size(), 1u);
    SpoolSummary s = summarize(files[0]);
    EXPECT_EQ(s.header.pid, run.truth["pid"].get<uint32_t>());
    EXPECT_EQ(s.header.image_seq, 0u);
    EXPECT_TRUE(s.scan.clean_end);
    EXPECT_EQ(s.scan.bad_records, 0u);
    EXPECT_EQ(s.markerThreads.size(), run.truth["threads_with_pattern"].get<size_t>());
    expectApis(s, run.truth["apis"]);
    EXPECT_EQ(s.peakBytes, run.truth["peak_bytes"].get<uint64_t>());
    EXPECT_EQ(s.liveBytes, run.truth["leak_bytes"].get<uint64_t>());
    EXPECT_EQ(s.live.size(), run.truth["leak_blocks"].get<size_t>());

    // The leak's innermost frame is inside tidemark_test_planted_leak.
    uint64_t fn = run.truth["leak_function_address"].get<uint64_t>();
    uint64_t fnSize = symbolSize(TIDEMARK_HOST_PATTERN, "tidemark_test_planted_leak");
    ASSERT_GT(fnSize, 0u);
    for (const auto& [address, block] : s.live) {
        ASSERT_NE(block.stack, 0u);
        const auto& ips = s.stacks.at(block.stack);
        ASSERT_GE(ips.size(), 3u);
        EXPECT_GT(ips[0], fn);
        EXPECT_LE(ips[0], fn + fnSize) << "innermost frame is not in the planted function";
    }

    EXPECT_EQ(s.exitReasons, std::vector<uint32_t> { uint32_t(wire::ExitReason::Exit) });
    EXPECT_EQ(s.stats.at("dropped"), 0u);
    EXPECT_EQ(s.stats.at("write_errors"), 0u);
    EXPECT_GE(s.stats.at("events"), s.hostEvents - 100); // events after the stats: exit-time frees
    EXPECT_GE(s.stats.at("threads"), 4u);
    EXPECT_EQ(s.stats.at("hook.malloc"), 1u);
    EXPECT_EQ(s.stats.at("hook.pvalloc"), 1u);
    ASSERT_EQ(s.argv.size(), 3u);
    EXPECT_EQ(s.argv[1], "pattern");
    EXPECT_NE(s.exe.find("host_pattern"), std::string::npos);
    bool exeModule = false, libc = false;
    for (const auto& m : s.modules) {
        if (m.path == s.exe) {
            exeModule = true;
            EXPECT_EQ(m.buildIdLen, 20u);
            EXPECT_GE(fn, m.start);
            EXPECT_LT(fn, m.end);
        }
        libc |= m.path.find("libc.so.6") != std::string::npos;
    }
    EXPECT_TRUE(exeModule);
    EXPECT_TRUE(libc);
    int workersNamed = 0;
    for (const auto& [tid, name] : s.threadNames)
        workersNamed += name.rfind("tm-worker-", 0) == 0;
    EXPECT_EQ(workersNamed, 3); // set with pthread_setname_np after the thread started
}

TEST(HostCapture, DwarfUnwinderFindsThePlantedLeakToo)
{
    PatternRun run = runPattern("pattern", { "TIDEMARK_UNWIND=dwarf" });
    ASSERT_TRUE(WIFEXITED(run.status) && WEXITSTATUS(run.status) == 0);
    auto files = spoolFilesIn(run.dir);
    ASSERT_EQ(files.size(), 1u);
    SpoolSummary s = summarize(files[0]);
    expectApis(s, run.truth["apis"]);
    uint64_t fn = run.truth["leak_function_address"].get<uint64_t>();
    uint64_t fnSize = symbolSize(TIDEMARK_HOST_PATTERN, "tidemark_test_planted_leak");
    ASSERT_EQ(s.live.size(), 3u);
    for (const auto& [address, block] : s.live) {
        const auto& ips = s.stacks.at(block.stack);
        ASSERT_FALSE(ips.empty());
        EXPECT_GT(ips[0], fn);
        EXPECT_LE(ips[0], fn + fnSize);
    }
    EXPECT_NE(s.details.at("unwinder").find("libunwind"), std::string::npos);
}

TEST(HostCapture, ForkChildIsRecordedAsItsOwnProcess)
{
    PatternRun run = runPattern("fork");
    ASSERT_TRUE(WIFEXITED(run.status) && WEXITSTATUS(run.status) == 0);
    EXPECT_EQ(run.truth["child_status"].get<int>(), 0);
    auto files = spoolFilesIn(run.dir);
    ASSERT_EQ(files.size(), 2u);
    uint32_t parentPid = run.truth["pid"].get<uint32_t>(), childPid = run.truth["child_pid"].get<uint32_t>();
    SpoolSummary a = summarize(files[0]), b = summarize(files[1]);
    SpoolSummary& parent = a.header.pid == parentPid ? a : b;
    SpoolSummary& child = a.header.pid == parentPid ? b : a;
    ASSERT_EQ(parent.header.pid, parentPid);
    ASSERT_EQ(child.header.pid, childPid);
    EXPECT_EQ(child.header.ppid, parentPid);
    expectApis(parent, run.truth["apis"]);
    expectApis(child, run.truth["child_apis"]);
    EXPECT_EQ(child.liveBytes, 4096u);
    EXPECT_EQ(child.markerThreads.size(), 1u); // the parent's windows were not copied into the child
    EXPECT_EQ(parent.stats.at("forks"), 1u);
    EXPECT_EQ(child.exitReasons, std::vector<uint32_t> { uint32_t(wire::ExitReason::Exit) });
    EXPECT_FALSE(child.modules.empty()); // the child describes its own module map
}

TEST(HostCapture, ForkChildNotFollowedWhenDisabled)
{
    PatternRun run = runPattern("fork", { "TIDEMARK_FOLLOW_FORK=0" });
    ASSERT_TRUE(WIFEXITED(run.status) && WEXITSTATUS(run.status) == 0);
    auto files = spoolFilesIn(run.dir);
    ASSERT_EQ(files.size(), 1u);
    SpoolSummary s = summarize(files[0]);
    EXPECT_EQ(s.header.pid, run.truth["pid"].get<uint32_t>());
    expectApis(s, run.truth["apis"]);
}

TEST(HostCapture, ExecStartsANewImageOfTheSameProcess)
{
    PatternRun run = runPattern("exec");
    ASSERT_TRUE(WIFEXITED(run.status) && WEXITSTATUS(run.status) == 0);
    auto files = spoolFilesIn(run.dir);
    ASSERT_EQ(files.size(), 2u);
    SpoolSummary first = summarize(files[0]), second = summarize(files[1]);
    uint32_t pid = run.truth["pid"].get<uint32_t>();
    EXPECT_EQ(first.header.pid, pid);
    EXPECT_EQ(second.header.pid, pid);
    EXPECT_EQ(first.header.image_seq, 0u);
    EXPECT_EQ(second.header.image_seq, 1u);
    EXPECT_EQ(first.exitReasons, std::vector<uint32_t> { uint32_t(wire::ExitReason::Exec) });
    EXPECT_EQ(second.exitReasons, std::vector<uint32_t> { uint32_t(wire::ExitReason::Exit) });
    expectApis(first, run.truth["first_image_apis"]);
    expectApis(second, run.truth["apis"]);
    ASSERT_GE(second.argv.size(), 2u);
    EXPECT_EQ(second.argv[1], "exec-after");
    EXPECT_EQ(first.stats.at("exec_calls"), 1u);
}

// Runs a wait/crash mode until READY, then (for wait) SIGKILLs it after `settleMs`.
SpoolSummary runUntilReady(const std::string& mode, int* status)
{
    std::string base = makeTempDir();
    std::string spool = base + "/spool", ready = base + "/ready.json";
    mkdir(spool.c_str(), 0755);
    pid_t pid = spawn({ TIDEMARK_HOST_PATTERN, mode, ready },
        { "LD_PRELOAD=" TIDEMARK_PRELOAD_PATH, "TIDEMARK_SPOOL_DIR=" + spool });
    struct stat st;
    for (int i = 0; i < 1000 && stat(ready.c_str(), &st) != 0; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (mode == "wait") {
        // The drain thread writes every 5 ms; wait (up to 10 s on a loaded machine) until the
        // pattern is in the file, written by the drain thread alone, then kill without warning.
        for (int i = 0; i < 1000; ++i) {
            auto files = spoolFilesIn(spool);
            SpoolSummary s;
            std::string error;
            if (files.size() == 1 && summarizeSpool(files[0], s, error, kMarkBegin, kMarkEnd)
                && s.markerThreads.size() == 1)
                break;
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        kill(pid, SIGKILL);
    }
    *status = waitStatus(pid);
    auto files = spoolFilesIn(spool);
    EXPECT_EQ(files.size(), 1u);
    return files.empty() ? SpoolSummary {} : summarize(files[0]);
}

TEST(HostCapture, SigkilledRunKeepsItsEarlyEventsAndAReadableFile)
{
    int status = 0;
    SpoolSummary s = runUntilReady("wait", &status);
    ASSERT_TRUE(WIFSIGNALED(status));
    EXPECT_EQ(WTERMSIG(status), SIGKILL);
    EXPECT_EQ(s.scan.bad_records, 0u);
    EXPECT_EQ(s.allocs[uint16_t(Api::Malloc)].count, 1000u);
    EXPECT_EQ(s.allocs[uint16_t(Api::Malloc)].bytes, 1499500u);
    EXPECT_EQ(s.markerThreads.size(), 1u);
    EXPECT_TRUE(s.exitReasons.empty()); // cut short: no ProcessExit
}

TEST(HostCapture, SegfaultKeepsEventsAndTheSignalIsUnchanged)
{
    int status = 0;
    SpoolSummary s = runUntilReady("crash", &status);
    ASSERT_TRUE(WIFSIGNALED(status));
    EXPECT_EQ(WTERMSIG(status), SIGSEGV);
    EXPECT_EQ(s.allocs[uint16_t(Api::Malloc)].count, 1000u);
    EXPECT_EQ(s.allocs[uint16_t(Api::Malloc)].bytes, 1499500u);
}

// The underscore-exit pattern (exit status 5 from _exit) ends the image as an exit, with every API call.
void expectUnderscoreExitRecorded(const PatternRun& run)
{
    ASSERT_TRUE(WIFEXITED(run.status));
    EXPECT_EQ(WEXITSTATUS(run.status), 5);
    auto files = spoolFilesIn(run.dir);
    ASSERT_EQ(files.size(), 1u);
    SpoolSummary s = summarize(files[0]);
    expectApis(s, run.truth["apis"]);
    EXPECT_EQ(s.exitReasons, std::vector<uint32_t> { uint32_t(wire::ExitReason::Exit) });
    EXPECT_EQ(s.stats.at("dropped"), 0u);
}

TEST(HostCapture, UnderscoreExitStillEndsTheImageProperly)
{
    expectUnderscoreExitRecorded(runPattern("underscore-exit"));
}

// AddressSanitizer's runtime calls malloc from its initialiser, before libc has set up environ: the
// capture used to start there, find no TIDEMARK_SPOOL_DIR and stay off for the whole run.
TEST(HostCapture, AProgramBuiltWithAddressSanitizerIsRecorded)
{
    expectUnderscoreExitRecorded(runPattern("underscore-exit",
        { "ASAN_OPTIONS=verify_asan_link_order=0:detect_leaks=0" }, "", TIDEMARK_HOST_PATTERN_ASAN));
}

TEST(HostCapture, ManyShortThreadsAreAllCounted)
{
    PatternRun run = runPattern("threads");
    ASSERT_TRUE(WIFEXITED(run.status) && WEXITSTATUS(run.status) == 0);
    SpoolSummary s = summarize(spoolFilesIn(run.dir).at(0));
    EXPECT_EQ(s.markerThreads.size(), 64u);
    expectApis(s, run.truth["apis"]);
    EXPECT_EQ(s.liveBytes, 0u);
    EXPECT_GE(s.stats.at("threads"), 64u);
    EXPECT_EQ(s.stats.at("dropped"), 0u);
}

TEST(HostCapture, DlopenAndDlcloseAreRecordedAndStacksResolveInThePlugin)
{
    PatternRun run = runPattern("dlopen", {}, TIDEMARK_HOST_PLUGIN);
    ASSERT_TRUE(WIFEXITED(run.status) && WEXITSTATUS(run.status) == 0);
    SpoolSummary s = summarize(spoolFilesIn(run.dir).at(0));
    const tidemark::test::ModuleInfo* plugin = nullptr;
    for (const auto& m : s.modules)
        if (m.path == TIDEMARK_HOST_PLUGIN)
            plugin = &m;
    ASSERT_NE(plugin, nullptr) << "no Module record for the dlopen'ed plugin";
    EXPECT_EQ(plugin->buildIdLen, 20u);
    EXPECT_GE(s.moduleUnloads, 1u);
    ASSERT_EQ(s.live.size(), 1u);
    const auto& block = s.live.begin()->second;
    EXPECT_EQ(block.size, 4242u);
    const auto& ips = s.stacks.at(block.stack);
    ASSERT_FALSE(ips.empty());
    EXPECT_GE(ips[0], plugin->start);
    EXPECT_LT(ips[0], plugin->end);
}

TEST(HostCapture, HostOffRecordsNoHeapEventsButStillAnImage)
{
    PatternRun run = runPattern("pattern", { "TIDEMARK_HOST=0" });
    ASSERT_TRUE(WIFEXITED(run.status) && WEXITSTATUS(run.status) == 0);
    auto files = spoolFilesIn(run.dir);
    ASSERT_EQ(files.size(), 1u);
    SpoolSummary s = summarize(files[0]);
    EXPECT_EQ(s.hostEvents, 0u);
    EXPECT_FALSE(s.modules.empty());
    EXPECT_EQ(s.stats.at("hook.malloc"), 0u);
    EXPECT_NE(s.details.at("hook.malloc").find("TIDEMARK_HOST=0"), std::string::npos);
}

TEST(HostCapture, StackDepthZeroRecordsNoStacks)
{
    PatternRun run = runPattern("pattern", { "TIDEMARK_STACK_DEPTH=0" });
    ASSERT_TRUE(WIFEXITED(run.status) && WEXITSTATUS(run.status) == 0);
    SpoolSummary s = summarize(spoolFilesIn(run.dir).at(0));
    expectApis(s, run.truth["apis"]);
    EXPECT_TRUE(s.stacks.empty());
    for (const auto& [address, block] : s.live)
        EXPECT_EQ(block.stack, 0u);
}

TEST(HostCapture, InertWithoutSpoolDirAndExitCodeUnchanged)
{
    std::string dir = makeTempDir();
    std::string truth = dir + "/truth.json";
    int status = waitStatus(spawn({ TIDEMARK_HOST_PATTERN, "pattern", truth }, { "LD_PRELOAD=" TIDEMARK_PRELOAD_PATH }));
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
    EXPECT_TRUE(spoolFilesIn(dir).empty());
    // A usage error of the target keeps its own exit code (2) under capture.
    std::string spool = dir + "/spool";
    mkdir(spool.c_str(), 0755);
    status = waitStatus(spawn({ TIDEMARK_HOST_PATTERN, "no-such-mode", truth },
        { "LD_PRELOAD=" TIDEMARK_PRELOAD_PATH, "TIDEMARK_SPOOL_DIR=" + spool }));
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 2);
}

} // namespace
