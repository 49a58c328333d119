// Captured stacks are exact: programs/stack_paths allocates from thousands of changing call paths
// (two threads, depths 2-40, several sites, alloca'd frames) and writes, for every allocation, the
// callers glibc's DWARF unwinder saw. Each allocation's recorded stack must list exactly those
// return addresses (within the program's own text), so reusing the previous capture's frames can
// never hand out a stale frame. Also with a depth limit below the deepest paths.
#include "spool_summary.h"

#include "trace/spool_reader.h"
#include "trace/wire.h"

#include <gtest/gtest.h>

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
                const auto* ips = reinterpret_cast<const uint64_t*>(&s + 1);
                r.stacks[s.id].assign(ips, ips + s.depth);
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
uint64_t siteSize()
{
    FILE* p = popen("nm -S -C --defined-only '" TIDEMARK_STACK_PATHS "'", "r");
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

// Runs stack_paths under the capture library; returns the spool directory and fills truth.
std::string runStackPaths(const std::vector<std::string>& extraEnv, Truth& truth)
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
        execl(TIDEMARK_STACK_PATHS, TIDEMARK_STACK_PATHS, truthPath.c_str(), static_cast<char*>(nullptr));
        _exit(127);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
    truth = readTruth(truthPath);
    return spool;
}

// Compares every allocation's recorded stack with the truth; depth = the stack depth limit.
void expectExactStacks(const Truth& truth, const Recorded& rec, unsigned depth)
{
    ASSERT_GT(truth.exeHi, truth.exeLo);
    ASSERT_EQ(truth.bySize.size(), 6000u);
    auto inExe = [&](uint64_t ip) { return ip >= truth.exeLo && ip < truth.exeHi; };
    uint64_t siteEnd = truth.site + siteSize();
    ASSERT_GT(siteEnd, truth.site);
    unsigned checkedFrames = 0, failures = 0;
    for (const auto& [size, expected] : truth.bySize) {
        auto site = rec.stackOfSize.find(size);
        ASSERT_NE(site, rec.stackOfSize.end()) << "no allocation of " << size << " bytes recorded";
        auto stack = rec.stacks.find(site->second);
        ASSERT_NE(stack, rec.stacks.end()) << "stack " << site->second << " never defined";
        const std::vector<uint64_t>& got = stack->second;
        ASSERT_FALSE(got.empty());
        ASSERT_GE(expected.size(), 2u);
        // Frame 0: the return address of the allocation call, inside the allocating function.
        EXPECT_TRUE(got[0] > truth.site && got[0] < siteEnd) << "size " << size;
        // Callers: identical return addresses while both are in the program, cut at the limit.
        std::vector<uint64_t> want, have;
        for (size_t i = 1; i < expected.size() && inExe(expected[i]); ++i)
            want.push_back(expected[i]);
        for (size_t i = 1; i < got.size() && inExe(got[i]); ++i)
            have.push_back(got[i]);
        if (want.size() + 1 > depth)
            want.resize(depth - 1);
        checkedFrames += unsigned(want.size());
        if (have != want && ++failures <= 5)
            ADD_FAILURE() << "size " << size << ": recorded " << have.size() << " program frames, expected "
                          << want.size() << " (first difference at "
                          << std::mismatch(have.begin(), have.end(), want.begin(), want.end()).first - have.begin()
                          << ")";
    }
    EXPECT_EQ(failures, 0u);
    EXPECT_GT(checkedFrames, 6000u * 10); // the paths are deep: the comparison covered real stacks
}

TEST(HostStacks, EveryStackMatchesTheDwarfUnwindersCallers)
{
    Truth truth;
    Recorded rec = readSpool(runStackPaths({}, truth));
    expectExactStacks(truth, rec, 64);
    // Both ways of finding frames were exercised: reusing the previous capture and walking.
    EXPECT_GT(rec.stats["stack_frames_reused"], 0u);
    EXPECT_GT(rec.stats["stack_frames_walked"], 0u);
    EXPECT_EQ(rec.stats["stacks_truncated"], 0u);
}

TEST(HostStacks, ExactBelowTheDepthLimitToo)
{
    Truth truth;
    Recorded rec = readSpool(runStackPaths({ "TIDEMARK_STACK_DEPTH=12" }, truth));
    expectExactStacks(truth, rec, 12);
    EXPECT_GT(rec.stats["stacks_truncated"], 0u);
}

} // namespace
