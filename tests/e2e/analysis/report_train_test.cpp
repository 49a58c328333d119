// `tidemark report` on real recordings of tidemark-train --device cpu, checked against the truth file
// the trainer writes itself: the pool's peak, the planted leak (right function, right bytes per step,
// nothing else called a leak), fragmentation higher with --fragment, activations attributed to
// forward; and unreadable input fails with one line and exit 2.
#include "tests/e2e/shell.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <sys/wait.h>
#include <unistd.h>

using nlohmann::json;

namespace {

const std::string kCommon = " --device cpu --steps 12 --layers 4 --hidden 128 --batch-size 32 --print-every 0";

using tidemark::test::Capture;
using tidemark::test::shell;

struct Recorded {
    json truth;
    json report;
    std::string file;
};

// Records one configuration and reports it as JSON (extra report options in reportArgs).
Recorded recordAndReport(const std::string& name, const std::string& trainArgs, const std::string& reportArgs = "")
{
    Recorded r;
    std::string dir = ::testing::TempDir();
    // ctest runs each test of this file in its own process, in parallel: names carry the pid.
    std::string stem = dir + "/analysis_" + name + "_" + std::to_string(::getpid());
    r.file = stem + ".tmdb";
    std::string truth = stem + "_truth.json";
    std::remove(r.file.c_str());
    auto rec = shell(std::string(TIDEMARK_CLI_PATH) + " record -o " + r.file + " -- " + TIDEMARK_TRAIN_PATH + kCommon + " "
        + trainArgs + " --truth " + truth + " 2>&1");
    EXPECT_EQ(0, rec.status) << rec.out;
    std::ifstream in(truth);
    r.truth = json::parse(in, nullptr, false);
    auto rep = shell(std::string(TIDEMARK_CLI_PATH) + " report --format json --top 50 " + reportArgs + " " + r.file);
    EXPECT_EQ(0, rep.status) << rep.out;
    r.report = json::parse(rep.out, nullptr, false);
    return r;
}

const json* space(const json& report, const std::string& kind)
{
    for (const auto& s : report["spaces"])
        if (s["kind"] == kind)
            return &s;
    return nullptr;
}

// Each configuration is recorded once per process, on first use (ctest runs every test in a process
// of its own, so a test records only what it reads).
class ReportTrain : public ::testing::Test {
protected:
    static const Recorded& run(const std::string& name, const std::string& args)
    {
        static std::map<std::string, Recorded> runs;
        auto it = runs.find(name);
        if (it == runs.end())
            it = runs.emplace(name, recordAndReport(name, args)).first;
        return it->second;
    }
    static const Recorded& byDefault() { return run("default", ""); }
    static const Recorded& leaking() { return run("leak", "--leak-every 3 --leak-bytes 100000"); }
    static const Recorded& fragmenting() { return run("fragment", "--fragment"); }
};

TEST_F(ReportTrain, PoolPeakMatchesTheTruthFile)
{
    for (const Recorded* run : { &byDefault(), &leaking(), &fragmenting() }) {
        ASSERT_FALSE(run->report.is_discarded());
        const json* pool = space(run->report, "pool");
        ASSERT_NE(nullptr, pool) << "no pool space in " << run->file;
        EXPECT_EQ(run->truth["allocator"]["peak_allocated_bytes"].get<int64_t>(), (*pool)["peak"]["bytes"].get<int64_t>()) << run->file;
        EXPECT_EQ(run->truth["allocator"]["peak_reserved_bytes"].get<int64_t>(), (*pool)["reserved_peak_bytes"].get<int64_t>()) << run->file;
        EXPECT_EQ((*pool)["peak"]["bytes"], (*pool)["peak"]["live_bytes"]) << "the live set at the peak adds up to the peak";
    }
}

TEST_F(ReportTrain, PlantedLeakIsFoundAtItsFunctionWithItsBytesPerStepAndNothingElse)
{
    const json& leak = leaking().truth["leak"];
    ASSERT_GT(leak["count"].get<int64_t>(), 1);
    int leakSites = 0;
    for (const auto& s : leaking().report["spaces"]) {
        for (const auto& site : s["leaks"]["sites"]) {
            if (!site["is_leak"].get<bool>())
                continue;
            ++leakSites;
            EXPECT_EQ("pool", s["kind"]) << "only the pool region leaks: " << site.dump();
            EXPECT_EQ(leak["function"].get<std::string>(), site["site"]["function"].get<std::string>());
            EXPECT_EQ(leak["total_bytes"].get<int64_t>(), site["bytes"].get<int64_t>());
            EXPECT_EQ(leak["count"].get<int64_t>(), site["count"].get<int64_t>());
            EXPECT_NEAR(leak["per_step_bytes"].get<double>(), site["bytes_per_step"].get<double>(), 1.0);
        }
        // Segments kept alive by the leaked blocks are pool-cached, not leaks of their own.
        if (s["kind"] == "host")
            EXPECT_EQ(0, s["leaks"]["leaked_bytes"].get<int64_t>());
    }
    EXPECT_EQ(1, leakSites);
    for (const Recorded* run : { &byDefault(), &fragmenting() })
        for (const auto& s : run->report["spaces"])
            EXPECT_EQ(0, s["leaks"]["leaked_bytes"].get<int64_t>()) << run->file << " " << s["name"];
    const json* pool = space(leaking().report, "pool");
    ASSERT_NE(nullptr, pool);
    EXPECT_TRUE((*pool)["growth"]["growing"].get<bool>());
}

TEST_F(ReportTrain, FragmentRunIsMoreFragmented)
{
    const json* base = space(byDefault().report, "pool");
    const json* frag = space(fragmenting().report, "pool");
    ASSERT_NE(nullptr, base);
    ASSERT_NE(nullptr, frag);
    double b = (*base)["fragmentation"]["mean_fragmentation"].get<double>();
    double f = (*frag)["fragmentation"]["mean_fragmentation"].get<double>();
    EXPECT_GT(f, b) << "mean external fragmentation, --fragment vs default";
    EXPECT_GE((*frag)["fragmentation"]["worst"]["stranded_bytes"].get<int64_t>(),
        fragmenting().truth["fragment"]["stranded_bytes"].get<int64_t>())
        << "the worst moment strands at least the holes the pattern leaves";
    EXPECT_LT((*base)["fragmentation"]["worst"]["stranded_bytes"].get<int64_t>(),
        fragmenting().truth["fragment"]["stranded_bytes"].get<int64_t>());
}

TEST_F(ReportTrain, ActivationsAtThePeakWereAllocatedInForward)
{
    // The same recording reported with --phase forward keeps every activation byte live at the peak.
    auto rep = shell(std::string(TIDEMARK_CLI_PATH) + " report --format json --top 50 --space pool --phase forward " + byDefault().file);
    ASSERT_EQ(0, rep.status);
    json forward = json::parse(rep.out, nullptr, false);
    ASSERT_FALSE(forward.is_discarded());
    auto activation = [](const json& s) {
        for (const auto& r : s["peak"]["by_name"])
            if (r["key"] == "activation")
                return r["bytes"].get<int64_t>();
        return int64_t { 0 };
    };
    const json* all = space(byDefault().report, "pool");
    ASSERT_NE(nullptr, all);
    int64_t total = activation(*all);
    EXPECT_GT(total, 0) << "activations are live at the pool peak";
    EXPECT_EQ(total, activation(forward["spaces"][0])) << "all of them were allocated in forward";
    for (const auto& r : (*all)["peak"]["by_phase"])
        if (r["key"].get<std::string>().find("forward") != std::string::npos)
            return;
    ADD_FAILURE() << "no forward phase in the peak breakdown";
}

// The default text report fits on two screens (100 lines of at most a few hundred columns), the
// headlines first; --full has every table, and its rows are the JSON's.
TEST_F(ReportTrain, DefaultTextFitsTwoScreensAndFullHasEveryTable)
{
    const auto& r = leaking();
    auto text = shell(std::string(TIDEMARK_CLI_PATH) + " report " + r.file);
    ASSERT_EQ(0, text.status) << text.out;
    auto lines = std::count(text.out.begin(), text.out.end(), '\n');
    EXPECT_LE(lines, 100) << text.out;
    auto headlines = text.out.find("== Headlines ==");
    ASSERT_NE(std::string::npos, headlines) << text.out;
    EXPECT_LT(headlines, text.out.find("== Memory spaces =="));
    // The planted leak is a headline and a leak row even in the short form.
    ASSERT_TRUE(r.truth.contains("leak")) << r.truth.dump();
    EXPECT_NE(std::string::npos, text.out.find("leak  ")) << text.out;
    for (const char* fullOnly : { "By API at the peak", "Capture coverage", "By name at the peak" })
        EXPECT_EQ(std::string::npos, text.out.find(fullOnly)) << fullOnly;

    auto full = shell(std::string(TIDEMARK_CLI_PATH) + " report --full " + r.file);
    ASSERT_EQ(0, full.status);
    for (const char* table : { "By API at the peak", "Capture coverage", "By name at the peak", "Churn and temporaries" })
        EXPECT_NE(std::string::npos, full.out.find(table)) << table;
    // Every call site the JSON lists at the pool peak (top 10 in --full) is in the full text.
    const json* pool = space(r.report, "pool");
    ASSERT_NE(nullptr, pool);
    size_t n = 0;
    for (const auto& site : (*pool)["peak"]["by_site"]) {
        if (n++ == 10)
            break;
        EXPECT_NE(std::string::npos, full.out.find(site["label"].get<std::string>())) << site.dump();
    }
    EXPECT_GT(std::count(full.out.begin(), full.out.end(), '\n'), lines);
}

TEST(ReportInput, UnreadableInputIsOneLineAndExitTwo)
{
    std::string dir = ::testing::TempDir();
    std::string junk = dir + "/analysis_junk_" + std::to_string(::getpid()) + ".tmdb";
    std::ofstream(junk) << "this is not a recording\n";
    for (const std::string& file : { dir + "/analysis_missing.tmdb", junk }) {
        auto c = shell(std::string(TIDEMARK_CLI_PATH) + " report " + file + " 2>&1");
        EXPECT_EQ(2, c.status) << c.out;
        EXPECT_EQ(0u, c.out.rfind("tidemark: error: ", 0)) << c.out;
        EXPECT_LE(std::count(c.out.begin(), c.out.end(), '\n'), 2) << c.out;
    }
    auto c = shell(std::string(TIDEMARK_CLI_PATH) + " report --format yaml x.tmdb 2>&1");
    EXPECT_EQ(2, c.status);
}

} // namespace
