// Captured stacks are exact: programs/stack_paths allocates from thousands of changing call paths
// (two threads, depths 2-40, several sites, alloca'd frames; or from a signal handler interrupting
// a recursion, on the thread's stack or an alternate one) and writes, for every allocation, the
// callers glibc's DWARF unwinder saw. With the CFI walker (the default) each allocation's recorded
// stack must list exactly those return addresses, every frame, in libc too, on code built with or
// without frame pointers; so reusing the previous capture's frames can never hand out a stale
// frame. The frame-pointer walk is held to the program's own frames on the program built for it,
// and shown to be wrong without frame pointers (so the comparison can tell right from wrong).
#include "spool_summary.h"

#include "trace/spool_reader.h"
#include "trace/stack_frames.h"
#include "trace/wire.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace wire = tidemark::wire;

namespace {

struct Truth {
    uint64_t exeLo = 0, exeHi = 0;
    uint64_t site = 0; // start of the allocating function
    std::map<uint64_t, std::vector<uint64_t>> bySize; // backtrace() frames of each allocation
};

struct Recorded {
    std::map<uint64_t, uint32_t> stackOfSize;
    std::map<uint32_t, std::vector<uint64_t>> stacks;
    std::map<std::string, uint64_t> stats;
};

Truth readTruth(const std::string& path)
{
    Truth t;
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream fields(line);
        std::string tag;
        fields >> tag;
        if (tag == "exe") {
            fields >> std::hex >> t.exeLo >> t.exeHi;
        } else if (tag == "site") {
            fields >> std::hex >> t.site;
        } else if (tag == "a") {
            uint64_t size = 0, ip = 0;
            fields >> std::dec >> size;
            std::vector<uint64_t>& frames = t.bySize[size];
            while (fields >> std::hex >> ip)
                frames.push_back(ip);
        }
    }
    return t;
}

Recorded readSpool(const std::string& dir)
{
    Recorded r;
    for (const std::string& file : tidemark::test::spoolFilesIn(dir)) {
        auto reader = tidemark::trace::SpoolReader::open(file);
        EXPECT_TRUE(reader.ok()) << file;
        if (!reader.ok())
            continue;
        reader.value().forEach([&](uint32_t, const wire::RecordHeader& h) {
            if (h.kind == uint16_t(wire::Kind::HostAlloc)) {
                const auto& a = reinterpret_cast<const wire::HostAllocRecord&>(h);
                r.stackOfSize[a.size] = a.stack_id;
            } else if (h.kind == uint16_t(wire::Kind::Stack)) {
                const auto& s = reinterpret_cast<const wire::StackRecord&>(h);
                std::vector<uint64_t> ips;
                EXPECT_TRUE(tidemark::trace::stackFrames(s, r.stacks, ips)) << "stack " << s.id;
                r.stacks[s.id] = std::move(ips);
            }
        });
        tidemark::test::SpoolSummary summary;
        std::string error;
        if (tidemark::test::summarizeSpool(file, summary, error))
            for (const auto& [name, value] : summary.stats)
                r.stats[name] += value;
    }
    return r;
}

// Size of the allocating function in the program's symbol table (nm -S -C), 0 if not found.
uint64_t siteSize(const char* program)
{
    FILE* p = popen(("nm -S -C --defined-only '" + std::string(program) + "'").c_str(), "r");
    if (!p)
        return 0;
    char line[1024];
    uint64_t size = 0;
    while (fgets(line, sizeof(line), p)) {
        unsigned long long addr = 0, sz = 0;
        if (std::strstr(line, "::allocate(") && std::sscanf(line, "%llx %llx", &addr, &sz) == 2)
            size = sz;
    }
    pclose(p);
    return size;
}

// Runs stack_paths (program, in mode) under the capture library; returns the spool directory and
// fills truth.
std::string runStackPaths(const char* program, const char* mode, const std::vector<std::string>& extraEnv,
    Truth& truth)
{
    char tmpl[] = "/tmp/tidemark-stacks-XXXXXX";
    std::string dir = mkdtemp(tmpl) ? tmpl : "";
    std::string spool = dir + "/spool", truthPath = dir + "/truth.txt";
    mkdir(spool.c_str(), 0755);
    pid_t pid = fork();
    if (pid == 0) {
        setenv("LD_PRELOAD", TIDEMARK_PRELOAD_PATH, 1);
        setenv("TIDEMARK_SPOOL_DIR", spool.c_str(), 1);
        for (const std::string& e : extraEnv)
            putenv(strdup(e.c_str()));
        execl(program, program, truthPath.c_str(), mode, static_cast<char*>(nullptr));
        _exit(127);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
    truth = readTruth(truthPath);
    return spool;
}

enum class Compare {
    WholeStack,     // every frame, wherever it is (what a DWARF unwinder must give)
    ProgramPrefix,  // the frames in the program, up to the first frame outside it
};

struct Outcome {
    unsigned allocations = 0, checkedFrames = 0, failures = 0;
    std::string firstFailures;
};

// Compares every allocation's recorded stack with the truth; depth = the stack depth limit.
Outcome compareStacks(const char* program, const Truth& truth, const Recorded& rec, unsigned depth, Compare how)
{
    Outcome o;
    EXPECT_GT(truth.exeHi, truth.exeLo);
    auto inExe = [&](uint64_t ip) { return ip >= truth.exeLo && ip < truth.exeHi; };
    uint64_t siteEnd = truth.site + siteSize(program);
    EXPECT_GT(siteEnd, truth.site);
    for (const auto& [size, expected] : truth.bySize) {
        ++o.allocations;
        auto site = rec.stackOfSize.find(size);
        auto stack = site == rec.stackOfSize.end() ? rec.stacks.end() : rec.stacks.find(site->second);
        if (stack == rec.stacks.end() || stack->second.empty() || expected.size() < 2) {
            if (++o.failures <= 5)
                o.firstFailures += "size " + std::to_string(size) + ": no stack recorded\n";
            continue;
        }
        const std::vector<uint64_t>& got = stack->second;
        // Frame 0: the return address of the allocation call, inside the allocating function.
        bool ok = got[0] > truth.site && got[0] < siteEnd;
        // Frame i > 0 of the capture is frame i of backtrace() (both start in the allocating function).
        std::vector<uint64_t> want, have;
        if (how == Compare::WholeStack) {
            want.assign(expected.begin() + 1, expected.begin() + std::min<size_t>(expected.size(), depth));
            have.assign(got.begin() + 1, got.end());
        } else {
            for (size_t i = 1; i < expected.size() && inExe(expected[i]); ++i)
                want.push_back(expected[i]);
            for (size_t i = 1; i < got.size() && inExe(got[i]); ++i)
                have.push_back(got[i]);
            if (want.size() + 1 > depth)
                want.resize(depth - 1);
        }
        o.checkedFrames += unsigned(want.size());
        if ((!ok || have != want) && ++o.failures <= 5) {
            std::ostringstream line;
            line << "size " << size << ": recorded " << have.size() << " frames, expected " << want.size()
                 << ", first difference at frame "
                 << 1 + (std::mismatch(have.begin(), have.end(), want.begin(), want.end()).first - have.begin())
                 << (ok ? "" : " (frame 0 outside the allocating function)") << "\n";
            o.firstFailures += line.str();
        }
    }
    return o;
}

void expectExact(const char* program, const char* mode, const std::vector<std::string>& env, unsigned depth,
    Compare how, unsigned allocations, Recorded* out = nullptr)
{
    Truth truth;
    Recorded rec = readSpool(runStackPaths(program, mode, env, truth));
    Outcome o = compareStacks(program, truth, rec, depth, how);
    EXPECT_EQ(o.allocations, allocations);
    EXPECT_EQ(o.failures, 0u) << o.firstFailures;
    EXPECT_GT(o.checkedFrames, allocations * 10); // the paths are deep: the comparison covered real stacks
    if (out)
        *out = std::move(rec);
}

TEST(HostStacks, EveryStackMatchesTheDwarfUnwindersCallers)
{
    Recorded rec;
    expectExact(TIDEMARK_STACK_PATHS, "threads", {}, 64, Compare::WholeStack, 6000, &rec);
    // Both ways of finding frames were exercised: reusing the previous capture and walking.
    EXPECT_GT(rec.stats["stack_frames_reused"], 0u);
    EXPECT_GT(rec.stats["stack_frames_walked"], 0u);
    EXPECT_EQ(rec.stats["stacks_truncated"], 0u);
    EXPECT_EQ(rec.stats["stack_frames_guessed"], 0u); // every frame had unwind rules
}

TEST(HostStacks, ExactBelowTheDepthLimitToo)
{
    Recorded rec;
    expectExact(TIDEMARK_STACK_PATHS, "threads", { "TIDEMARK_STACK_DEPTH=12" }, 12, Compare::WholeStack, 6000, &rec);
    EXPECT_GT(rec.stats["stacks_truncated"], 0u);
}

TEST(HostStacks, ExactOnCodeBuiltWithoutFramePointers)
{
    Recorded rec;
    expectExact(TIDEMARK_STACK_PATHS_NOFP, "threads", {}, 64, Compare::WholeStack, 6000, &rec);
    EXPECT_GT(rec.stats["stack_frames_reused"], 0u);
    EXPECT_EQ(rec.stats["stack_frames_guessed"], 0u);
}

// One stack, two modules, frames with and without frame pointers (the normal case: a program
// calling distribution libraries); and all of them without.
TEST(HostStacks, ExactThroughALibraryWithoutFramePointers)
{
    expectExact(TIDEMARK_STACK_PATHS, "library", {}, 64, Compare::WholeStack, 6000);
    expectExact(TIDEMARK_STACK_PATHS_NOFP, "library", {}, 64, Compare::WholeStack, 6000);
}

TEST(HostStacks, ExactAcrossSignalFrames)
{
    expectExact(TIDEMARK_STACK_PATHS_NOFP, "signal", {}, 64, Compare::WholeStack, 3000);
}

TEST(HostStacks, ExactFromAnAlternateSignalStack)
{
    expectExact(TIDEMARK_STACK_PATHS_NOFP, "altstack", {}, 64, Compare::WholeStack, 3000);
}

// The frame-pointer walk: exact over the program's frames when the program keeps frame pointers...
TEST(HostStacks, FramePointerWalkIsExactOnFramePointerCode)
{
    expectExact(TIDEMARK_STACK_PATHS, "threads", { "TIDEMARK_UNWIND=fp" }, 64, Compare::ProgramPrefix, 6000);
}

// ...and wrong when it does not: the comparison above is able to fail.
TEST(HostStacks, FramePointerWalkIsWrongWithoutFramePointers)
{
    Truth truth;
    Recorded rec = readSpool(runStackPaths(TIDEMARK_STACK_PATHS_NOFP, "threads", { "TIDEMARK_UNWIND=fp" }, truth));
    Outcome o = compareStacks(TIDEMARK_STACK_PATHS_NOFP, truth, rec, 64, Compare::ProgramPrefix);
    EXPECT_GT(o.failures, o.allocations / 2);
}

// libunwind, the slower reference walker, agrees with glibc's unwinder as well.
TEST(HostStacks, LibunwindAgrees)
{
    expectExact(TIDEMARK_STACK_PATHS_NOFP, "threads", { "TIDEMARK_UNWIND=libunwind" }, 64, Compare::WholeStack, 6000);
}

} // namespace
