// `tidemark report` on a real program built without frame pointers: Debian's xgboost CLI training on
// the committed scenario (bench/scenarios/make_xgboost.py). Its peak is the data loader (heaptrack on
// the same run names dmlc::ThreadedIter's Init lambda, dmlc::InputSplit::Create and the LibSVM parser),
// so the peak headline must name a dmlc:: or xgboost:: function, never operator new; --stacks shows the
// allocator frames walked past. Skips when xgboost is not installed (scripts/setup-real-programs.sh).
#include "tests/e2e/shell.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>
#include <string>
#include <sys/wait.h>
#include <unistd.h>

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

using tidemark::test::Capture;
using tidemark::test::shell;

bool userNamespace(const std::string& function)
{
    return function.rfind("dmlc::", 0) == 0 || function.rfind("xgboost::", 0) == 0;
}

TEST(ReportReal, XgboostPeakIsNamedAfterItsDataLoader)
{
    if (shell("command -v xgboost >/dev/null 2>&1").status != 0)
        GTEST_SKIP() << "xgboost is not installed (Debian package xgboost; scripts/setup-real-programs.sh installs it)";
    fs::path dir = fs::path(::testing::TempDir()) / ("report_xgboost_" + std::to_string(::getpid()));
    fs::create_directories(dir);
    std::string d = dir.string();
    auto gen = shell("python3 " TIDEMARK_TEST_SOURCE_DIR "/bench/scenarios/make_xgboost.py " + d + " 2>&1");
    ASSERT_EQ(0, gen.status) << gen.out;
    auto rec = shell("cd " + d + " && " TIDEMARK_CLI_PATH " record -o r.tmdb -- xgboost train.conf 2>&1");
    ASSERT_EQ(0, rec.status) << rec.out;
    auto rep = shell(std::string(TIDEMARK_CLI_PATH) + " report " + d + "/r.tmdb --format json --stacks");
    ASSERT_EQ(0, rep.status) << rep.out;
    json j = json::parse(rep.out, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << rep.out.substr(0, 2000);

    const json* host = nullptr;
    for (const auto& s : j["spaces"])
        if (s["name"] == "host")
            host = &s;
    ASSERT_NE(nullptr, host);
    const json& bySite = (*host)["peak"]["by_site"];
    ASSERT_FALSE(bySite.empty());
    std::string top = bySite[0]["label"].get<std::string>();
    EXPECT_TRUE(userNamespace(top)) << "peak's top site: " << top;
    EXPECT_EQ(std::string::npos, top.find("operator new")) << top;

    // The peak headline has its stack: the site is the dmlc::/xgboost:: frame, and the frames inside
    // it (the allocator at least) were walked past as plumbing.
    ASSERT_LE(j["headlines"].size(), 5u);
    ASSERT_FALSE(j["headline_stacks"].empty()) << j["headlines"].dump(2);
    const json* peakStack = nullptr;
    for (const auto& hs : j["headline_stacks"])
        if (j["headlines"][hs["headline"].get<size_t>()].get<std::string>().find("peak") != std::string::npos)
            peakStack = &hs;
    ASSERT_NE(nullptr, peakStack) << j["headlines"].dump(2);
    EXPECT_TRUE(userNamespace((*peakStack)["site"]["function"].get<std::string>())) << peakStack->dump(2);
    const json& frames = (*peakStack)["frames"];
    ASSERT_GE(frames.size(), 2u);
    EXPECT_TRUE(frames[0]["skipped"].get<bool>()) << frames[0].dump();
    EXPECT_EQ("plumbing", frames[0]["role"]) << frames[0].dump();
    int sites = 0;
    for (const auto& f : frames) {
        if (!f["is_site"].get<bool>())
            continue;
        ++sites;
        EXPECT_TRUE(userNamespace(f["function"].get<std::string>())) << f.dump();
    }
    EXPECT_EQ(1, sites);

    // dmlc's parameter and parser registries are filled by static initializers and kept to exit:
    // retained by start-up, and nothing in this run is a leak.
    EXPECT_GT((*host)["leaks"]["startup_retained_bytes"].get<int64_t>(), 0);
    EXPECT_EQ(0, (*host)["leaks"]["leaked_bytes"].get<int64_t>());
    fs::remove_all(dir);
}

} // namespace
