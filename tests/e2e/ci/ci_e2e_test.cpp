// The CI gate end to end: the real `tidemark` CLI records the real tidemark-train, a committed-style
// JSON baseline is made with `summarize`, and planted regressions (a bigger batch, a new leak) must fail
// `check` with exit 1 naming the rule, the site and the phase, while an unchanged run passes. Measured
// values are compared with what tidemark-train's own allocator reports in --truth.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <sys/wait.h>
#include <unistd.h>

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

struct Out {
    int code = -1;
    std::string text; // stdout and stderr
};

fs::path g_dir;

Out sh(const std::string& cmd)
{
    Out o;
    std::string full = "cd '" + g_dir.string() + "' && " + cmd + " 2>&1";
    FILE* p = popen(full.c_str(), "r");
    if (!p)
        return o;
    std::array<char, 4096> buf {};
    size_t n;
    while ((n = fread(buf.data(), 1, buf.size(), p)) > 0)
        o.text.append(buf.data(), n);
    int status = pclose(p);
    o.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
    return o;
}

std::string cli()
{
    return std::string("'") + TIDEMARK_CLI_PATH + "'";
}
std::string train()
{
    return std::string("'") + TIDEMARK_TRAIN_PATH + "' --device cpu --steps 8 --print-every 0";
}

json readJson(const std::string& name)
{
    std::ifstream in(g_dir / name);
    return json::parse(in, nullptr, false);
}

std::string readFile(const std::string& name)
{
    std::ifstream in(g_dir / name);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

const json* spaceOf(const json& summary, const std::string& name)
{
    for (const auto& s : summary["spaces"])
        if (s["space"] == name)
            return &s["phases"][0];
    return nullptr;
}

class CiGate : public ::testing::Test {
protected:
    static void SetUpTestSuite()
    {
        g_dir = fs::temp_directory_path() / ("tidemark-ci-e2e-" + std::to_string(getpid()));
        fs::create_directories(g_dir);
        for (auto [name, extra] :
            { std::pair { "base", "" }, { "same", "" }, { "big", "--batch-size 128" }, { "leak", "--leak-every 2" } }) {
            Out r = sh(cli() + " record -o " + name + ".tmdb -- " + train() + " " + extra + " --truth " + name
                + ".truth.json");
            ASSERT_EQ(r.code, 0) << r.text;
        }
        Out s = sh(cli() + " summarize base.tmdb -o baseline.json");
        ASSERT_EQ(s.code, 0) << s.text;
    }
    static void TearDownTestSuite() { fs::remove_all(g_dir); }
};

} // namespace

TEST_F(CiGate, SummaryMeasuresWhatTheWorkloadReports)
{
    json base = readJson("baseline.json");
    ASSERT_EQ(base["format"], "tidemark-baseline");
    ASSERT_EQ(base["version"], 1);
    for (const char* name : { "base", "leak" }) {
        Out s = sh(cli() + " summarize " + name + ".tmdb");
        ASSERT_EQ(s.code, 0) << s.text;
        json sum = json::parse(s.text);
        json truth = readJson(std::string(name) + ".truth.json")["allocator"];
        const json* pool = spaceOf(sum, "pool:host");
        ASSERT_NE(pool, nullptr) << s.text.substr(0, 400);
        EXPECT_EQ((*pool)["peak_bytes"], truth["peak_allocated_bytes"]) << name;
        EXPECT_EQ((*pool)["leaked_bytes"], truth["by_tag"]["leak"]["final_bytes"]) << name;
    }
}

TEST_F(CiGate, UnchangedRunPasses)
{
    for (const char* base : { "baseline.json", "base.tmdb" }) {
        Out r = sh(cli() + " check same.tmdb --baseline " + base);
        EXPECT_EQ(r.code, 0) << r.text;
        EXPECT_NE(r.text.find("passed"), std::string::npos) << r.text;
        EXPECT_NE(r.text.find("max-peak-growth"), std::string::npos) << r.text;
        EXPECT_NE(r.text.find("max-leak-growth"), std::string::npos) << r.text;
    }
}

TEST_F(CiGate, BiggerBatchFailsNamingRuleSiteAndPhase)
{
    Out r = sh(cli() + " check big.tmdb --baseline baseline.json --junit big.xml");
    EXPECT_EQ(r.code, 1) << r.text;
    std::smatch m;
    std::regex failure(
        R"(max-peak-growth failed in pool:host: \+[0-9.]+% .* site (.+) \(\+[0-9.]+ [KMG]iB against the baseline\); phase (step[^ ;(]*))");
    ASSERT_TRUE(std::regex_search(r.text, m, failure)) << r.text;
    EXPECT_NE(m[1].str().find(".cpp:"), std::string::npos) << "site has a source line: " << m[1];
    // The verdict reproduces the workload's own numbers.
    double expected = readJson("big.truth.json")["allocator"]["peak_allocated_bytes"].get<double>()
            / readJson("base.truth.json")["allocator"]["peak_allocated_bytes"].get<double>()
        - 1.0;
    char pct[32];
    std::snprintf(pct, sizeof(pct), "%+.1f%%", expected * 100);
    EXPECT_NE(r.text.find(std::string("pool:host: ") + pct), std::string::npos) << pct << "\n" << r.text;
    std::string xml = readFile("big.xml");
    EXPECT_NE(xml.find("<testsuites name=\"tidemark check\""), std::string::npos);
    EXPECT_NE(xml.find("<failure message=\"max-peak-growth failed in pool:host"), std::string::npos) << xml;
    EXPECT_NE(xml.find("type=\"max-peak-growth\""), std::string::npos);
}

TEST_F(CiGate, NewLeakFailsNamingTheLeakingSite)
{
    Out r = sh(cli() + " check leak.tmdb --baseline baseline.json --json");
    EXPECT_EQ(r.code, 1) << r.text;
    json doc = json::parse(r.text, nullptr, false);
    ASSERT_FALSE(doc.is_discarded()) << r.text;
    EXPECT_FALSE(doc["ok"].get<bool>());
    bool found = false;
    for (const auto& x : doc["results"]) {
        if (x["rule"] != "max-leak-growth" || x["space"] != "pool:host")
            continue;
        found = true;
        EXPECT_EQ(x["verdict"], "fail");
        EXPECT_EQ(x["measured"].get<double>(),
            readJson("leak.truth.json")["allocator"]["by_tag"]["leak"]["final_bytes"].get<double>());
        EXPECT_NE(x["site"]["label"].get<std::string>().find("trainer.cpp"), std::string::npos) << x.dump();
        EXPECT_EQ(x["culprit_phase"].get<std::string>().rfind("step", 0), 0u) << x.dump();
    }
    EXPECT_TRUE(found) << r.text;
}

TEST_F(CiGate, BudgetFileAndAbsoluteLimits)
{
    std::string budget = std::string(TIDEMARK_SOURCE_DIR) + "/tests/data/ci/budget.toml";
    Out leak = sh(cli() + " check leak.tmdb --budget '" + budget + "' --markdown");
    EXPECT_EQ(leak.code, 1) << leak.text;
    EXPECT_NE(leak.text.find("| ❌ | max-leak |"), std::string::npos) << leak.text;
    Out base = sh(cli() + " check base.tmdb --budget '" + budget + "'");
    EXPECT_EQ(base.code, 0) << base.text;
    Out tight = sh(cli() + " check base.tmdb --max-peak 1MiB --space pool:host");
    EXPECT_EQ(tight.code, 1) << tight.text;
    Out loose = sh(cli() + " check base.tmdb --max-peak 1GiB --max-growth-per-step 64k");
    EXPECT_EQ(loose.code, 0) << loose.text;
}

TEST_F(CiGate, RepeatAggregatesRuns)
{
    Out r = sh(cli() + " check same.tmdb base.tmdb big.tmdb --repeat --baseline baseline.json");
    EXPECT_EQ(r.code, 0) << r.text; // the median of (same, base, big) is an unchanged run
    EXPECT_NE(r.text.find("3 runs (median)"), std::string::npos) << r.text;
    Out max = sh(cli() + " check same.tmdb base.tmdb big.tmdb --repeat --aggregate max --baseline baseline.json");
    EXPECT_EQ(max.code, 1) << max.text;
}

TEST_F(CiGate, BadInputExitsTwo)
{
    EXPECT_EQ(sh(cli() + " check missing.tmdb --max-peak 1GiB").code, 2);
    EXPECT_EQ(sh(cli() + " check base.tmdb --max-peak lots").code, 2);
    EXPECT_EQ(sh(cli() + " check base.tmdb --max-peak-growth 5%").code, 2); // needs a baseline
    EXPECT_EQ(sh(cli() + " check base.tmdb").code, 2); // no rules
    EXPECT_EQ(sh(cli() + " check base.tmdb --baseline big.truth.json").code, 2);
    EXPECT_EQ(sh(cli() + " check base.tmdb --max-peak 1GiB --space cuda:7").code, 2);
    EXPECT_EQ(sh(cli() + " export base.tmdb --format svg").code, 2);
    EXPECT_EQ(sh(cli() + " diff base.tmdb").code, 2);
    Out help = sh(cli() + " check --help");
    EXPECT_EQ(help.code, 0);
    EXPECT_NE(help.text.find("--junit"), std::string::npos);
}

TEST_F(CiGate, DiffAndExports)
{
    Out d = sh(cli() + " diff base.tmdb big.tmdb --format json");
    ASSERT_EQ(d.code, 0) << d.text;
    json diff = json::parse(d.text);
    json truthA = readJson("base.truth.json")["allocator"], truthB = readJson("big.truth.json")["allocator"];
    bool pool = false;
    for (const auto& s : diff["spaces"])
        if (s["space"] == "pool:host") {
            pool = true;
            EXPECT_EQ(s["peak_bytes_a"], truthA["peak_allocated_bytes"]);
            EXPECT_EQ(s["peak_bytes_b"], truthB["peak_allocated_bytes"]);
        }
    EXPECT_TRUE(pool);
    Out chrome = sh(cli() + " export base.tmdb --format chrome -o base.trace.json");
    ASSERT_EQ(chrome.code, 0) << chrome.text;
    json trace = readJson("base.trace.json");
    ASSERT_TRUE(trace.is_object() && trace["traceEvents"].is_array());
    int64_t counters = 0, slices = 0;
    for (const auto& e : trace["traceEvents"]) {
        counters += e["ph"] == "C";
        slices += e["ph"] == "X";
    }
    EXPECT_GT(counters, 0);
    // tidemark-train opens per step: step, forward, backward, optimizer and 10 layer ranges in each pass.
    EXPECT_EQ(slices, 8 * (4 + 2 * 10));
    Out csv = sh(cli() + " export base.tmdb --format csv -o base.csv");
    ASSERT_EQ(csv.code, 0) << csv.text;
    Out dump = sh(cli() + " dump base.tmdb | grep '^== allocations'");
    std::smatch m;
    ASSERT_TRUE(std::regex_search(dump.text, m, std::regex(R"(\((\d+) rows\))"))) << dump.text;
    std::string text = readFile("base.csv");
    EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), std::stoll(m[1]) + 1);
    Out folded = sh(cli() + " export leak.tmdb --format folded --weight leaked --space pool:host");
    ASSERT_EQ(folded.code, 0);
    int64_t sum = 0;
    std::istringstream lines(folded.text);
    for (std::string line; std::getline(lines, line);)
        sum += std::stoll(line.substr(line.rfind(' ') + 1));
    EXPECT_EQ(sum, readJson("leak.truth.json")["allocator"]["by_tag"]["leak"]["final_bytes"].get<int64_t>());
}

TEST_F(CiGate, RanksFromLauncherVariables)
{
    // Two single-process runs standing in for two ranks (no MPI launcher here): RANK names the files.
    for (auto [rank, extra] : { std::pair { "0", "" }, { "1", "--batch-size 96" } }) {
        Out r = sh("RANK=" + std::string(rank) + " " + cli() + " record -o 'run.%r.tmdb' -- " + train() + " " + extra);
        ASSERT_EQ(r.code, 0) << r.text;
    }
    ASSERT_TRUE(fs::exists(g_dir / "run.0.tmdb"));
    ASSERT_TRUE(fs::exists(g_dir / "run.1.tmdb"));
    Out c = sh(cli() + " check run.1.tmdb run.0.tmdb --max-peak 1GiB --json");
    ASSERT_EQ(c.code, 0) << c.text;
    json doc = json::parse(c.text);
    bool pool = false;
    for (const auto& im : doc["ranks"]["imbalance"])
        if (im["space"] == "pool:host") {
            pool = true;
            EXPECT_EQ(im["ranks"], 2);
            EXPECT_EQ(im["highest_rank"], 1);
            EXPECT_GT(im["max_over_min"].get<double>(), 1.0);
        }
    EXPECT_TRUE(pool) << c.text;
    Out text = sh(cli() + " check run.0.tmdb run.1.tmdb --max-peak 1GiB");
    EXPECT_NE(text.text.find("per-rank peaks (2 ranks)"), std::string::npos) << text.text;
    EXPECT_NE(text.text.find("rank 1 peaks highest"), std::string::npos) << text.text;
    Out d = sh(cli() + " diff run.0.tmdb -- run.1.tmdb");
    EXPECT_EQ(d.code, 0) << d.text;
}

TEST_F(CiGate, TwoRankMpiRunYieldsTwoRecordingsAndPerRankTables)
{
    // A real data-parallel run: Open MPI starts two tidemark record processes, each wrapping one rank
    // of tidemark-train --distributed; %r comes from OMPI_COMM_WORLD_RANK.
    if (sh("command -v mpirun").code != 0)
        GTEST_SKIP() << "mpirun is not installed (apt-get install openmpi-bin)";
    if (sh("'" TIDEMARK_TRAIN_PATH "' --help | grep -q -- --distributed").code != 0)
        GTEST_SKIP() << "this tidemark-train was built without MPI (--distributed missing)";
    Out r = sh("mpirun -n 2 --oversubscribe --allow-run-as-root " + cli()
        + " record -o 'mpi.%r.tmdb' -- '" TIDEMARK_TRAIN_PATH "' --distributed --device cpu --steps 4 --print-every 0");
    ASSERT_EQ(r.code, 0) << r.text;
    ASSERT_TRUE(fs::exists(g_dir / "mpi.0.tmdb")) << r.text;
    ASSERT_TRUE(fs::exists(g_dir / "mpi.1.tmdb")) << r.text;
    Out c = sh(cli() + " check mpi.0.tmdb mpi.1.tmdb --max-peak 1GiB --json");
    ASSERT_EQ(c.code, 0) << c.text;
    json doc = json::parse(c.text);
    std::set<int64_t> ranks;
    for (const auto& row : doc["ranks"]["ranks"]) {
        EXPECT_TRUE(row["rank_recorded"].get<bool>()) << row.dump(); // the launcher's rank, not file order
        ranks.insert(row["rank"].get<int64_t>());
    }
    EXPECT_EQ(ranks, (std::set<int64_t> { 0, 1 }));
    Out report = sh(cli() + " report mpi.0.tmdb mpi.1.tmdb");
    ASSERT_EQ(report.code, 0) << report.text;
    EXPECT_NE(report.text.find("per-rank peaks (2 ranks)"), std::string::npos) << report.text;
    EXPECT_NE(report.text.find("\nrank 0 (mpi.0.tmdb)"), std::string::npos) << report.text;
    EXPECT_NE(report.text.find("\nrank 1 (mpi.1.tmdb)"), std::string::npos) << report.text;
    // Data-parallel ranks hold identical models: the pool peaks must agree exactly.
    for (const auto& im : doc["ranks"]["imbalance"])
        if (im["space"] == "pool:host")
            EXPECT_EQ(im["max_bytes"], im["min_bytes"]) << im.dump();
}
