// The CI gate on synthetic training recordings with known memory: sizes, budgets (JSON and TOML, and
// their errors), rules with tolerances, the site and phase named in failures, baseline JSON round trips,
// --repeat aggregation, the renderings (JUnit structure, the JSON values), per-rank imbalance and diff.
#include "analysis/check.h"
#include "analysis/check_render.h"
#include "analysis/diff.h"
#include "analysis/json_io.h"
#include "analysis/ranks.h"
#include "training_fixture.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <regex>
#include <unistd.h>

using namespace tidemark;
using namespace tidemark::analysis;
using tidemark::testing::TrainingShape;
using tidemark::testing::TrainingTruth;

namespace {

std::string tempPath(const std::string& name)
{
    auto dir = std::filesystem::temp_directory_path() / ("tidemark-ci-test-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir);
    return (dir / name).string();
}

struct Measured {
    TrainingTruth truth;
    MemorySummary summary;
};

Measured makeRun(const std::string& name, const TrainingShape& shape, const std::vector<std::string>& phases = {})
{
    std::string path = tempPath(name);
    auto truth = tidemark::testing::writeTrainingRecording(path, shape);
    EXPECT_TRUE(truth.ok()) << (truth.ok() ? "" : truth.error().message);
    SummarizeOptions so;
    so.phases = phases;
    auto s = loadSummary(path, so);
    EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().message);
    return Measured { *truth, *s };
}

CheckResult check(const MemorySummary& run, const MemorySummary* base, const CheckConfig& config)
{
    CheckResult r;
    evaluateRules(run, base, config, "run", r);
    return r;
}

const RuleResult& only(const CheckResult& r, RuleKind kind, const std::string& space)
{
    for (const auto& x : r.results)
        if (x.rule.kind == kind && x.space == space)
            return x;
    ADD_FAILURE() << "no result for " << ruleName(kind) << " in " << space;
    static RuleResult none;
    return none;
}

} // namespace

TEST(Sizes, ParseSizesAndPercentages)
{
    EXPECT_EQ(*parseSize("512MiB"), 512LL << 20);
    EXPECT_EQ(*parseSize("1.5GB"), 1'500'000'000LL);
    EXPECT_EQ(*parseSize("100000"), 100000);
    EXPECT_EQ(*parseSize("64k"), 65536);
    EXPECT_EQ(*parseSize("2 GiB"), 2LL << 30);
    EXPECT_EQ(*parseSize("1_000"), 1000);
    for (const char* bad : { "", "MiB", "12XB", "-5", "1.2.3MB", "1e400GB" })
        EXPECT_FALSE(parseSize(bad).ok()) << bad;
    EXPECT_DOUBLE_EQ(*parsePercent("5%"), 0.05);
    EXPECT_DOUBLE_EQ(*parsePercent("2.5"), 0.025);
    EXPECT_DOUBLE_EQ(*parsePercent("-10%"), -0.10);
    EXPECT_FALSE(parsePercent("five%").ok());
}

TEST(Budget, TomlMatchesJson)
{
    auto json = parseBudgetJson(R"({"version": 1, "tolerance": {"absolute": "1MiB", "relative": "2%"},
        "rules": [{"space": "cuda:0", "phase": "step/forward", "max-peak": "512MiB", "max-leak": 0},
                  {"max-peak-growth": "5%"}]})",
        "b.json");
    ASSERT_TRUE(json.ok()) << json.error().message;
    auto toml = parseBudgetToml(R"(# budget for the nightly job
version = 1
[tolerance]
absolute = "1MiB"   # host malloc noise
relative = "2%"

[[rules]]
space = "cuda:0"
phase = 'step/forward'
max-peak = "512MiB"
max-leak = 0

[[rules]]
max-peak-growth = "5%"
)",
        "b.toml");
    ASSERT_TRUE(toml.ok()) << toml.error().message;
    ASSERT_EQ(json->rules.size(), 3u);
    ASSERT_EQ(toml->rules.size(), json->rules.size());
    for (size_t i = 0; i < json->rules.size(); ++i) {
        EXPECT_EQ(toml->rules[i].kind, json->rules[i].kind);
        EXPECT_DOUBLE_EQ(toml->rules[i].limit, json->rules[i].limit);
        EXPECT_EQ(toml->rules[i].space, json->rules[i].space);
        EXPECT_EQ(toml->rules[i].phase, json->rules[i].phase);
    }
    EXPECT_EQ(toml->tolerance.absoluteBytes, 1 << 20);
    EXPECT_DOUBLE_EQ(toml->tolerance.relative, 0.02);
}

TEST(Budget, ErrorsNameTheProblem)
{
    // An array is TOML (toml++ reads it), but not a space: a usage error naming the line.
    auto arr = parseBudgetToml("[[rules]]\nspace = [\"a\", \"b\"]\n", "b.toml");
    ASSERT_FALSE(arr.ok());
    EXPECT_EQ(arr.error().code, ErrorCode::Usage);
    EXPECT_EQ(arr.error().message, "b.toml:2: rule 1: space must be a string");
    auto key = parseBudgetJson(R"({"rules": [{"max-peek": "1GiB"}]})", "b.json");
    ASSERT_FALSE(key.ok());
    EXPECT_NE(key.error().message.find("max-peek"), std::string::npos);
    EXPECT_FALSE(parseBudgetJson(R"({"rules": []})", "b.json").ok());
    EXPECT_FALSE(parseBudgetJson("not json", "b.json").ok());
    EXPECT_FALSE(parseBudgetToml("[server]\nport = 1\n", "b.toml").ok());
    // A key and a table of the same name (the fuzzer's: appending a table to a number aborted).
    auto twice = parseBudgetToml("rules = 0\n[[rules]]\nspace = \"host\"\nmax-peak = \"1GiB\"\n", "b.toml");
    ASSERT_FALSE(twice.ok());
    EXPECT_NE(twice.error().message.find("b.toml:2"), std::string::npos) << twice.error().message;
    EXPECT_NE(twice.error().message.find("defined twice"), std::string::npos) << twice.error().message;
    auto tolerance = parseBudgetToml("[tolerance]\npeak = \"5%\"\n[tolerance]\npeak = \"6%\"\n", "b.toml");
    ASSERT_FALSE(tolerance.ok());
    EXPECT_NE(tolerance.error().message.find("defined twice"), std::string::npos) << tolerance.error().message;
    EXPECT_EQ(tolerance.error().message.rfind("b.toml:3:", 0), 0u) << tolerance.error().message;
    EXPECT_NE(tolerance.error().message.find("'tolerance'"), std::string::npos) << tolerance.error().message;
    auto limit = parseBudgetToml("[[rules]]\nmax-peak = \"1GiB\"\nmax-peak = \"2GiB\"\n", "b.toml");
    ASSERT_FALSE(limit.ok());
    EXPECT_EQ(limit.error().message.rfind("b.toml:3:", 0), 0u) << limit.error().message;
    EXPECT_NE(limit.error().message.find("'max-peak' defined twice"), std::string::npos) << limit.error().message;
}

TEST(Budget, TomlErrorsAreOneLineWithTheLine)
{
    struct Case {
        const char* text;
        const char* message; // the error, exactly, or its start when it ends in toml++'s own words
        bool exact;
    };
    const Case cases[] = {
        { "version = 1\n[[rules]]\nspace = \"host\"\nmax-peek = \"1GiB\"\n", "b.toml:4: rule 1: unknown key 'max-peek'",
            true },
        { "[[rules]]\nmax-peak = \"1GiB\"\n[[rules]]\nmax-leak = \"lots\"\n",
            "b.toml:4: rule 2: 'lots' is not a size", true },
        { "[[rules]]\nmax-peak = \"1GiB\"\n\n[[rules]]\nname = \"empty\"\n",
            "b.toml:4: rule 2 has no limit (max-peak, max-leak, ...)", true },
        { "version = 2\n[[rules]]\nmax-peak = 1\n", "b.toml:1: budget version must be 1", true },
        { "[tolerance]\nabsolute = \"much\"\n[[rules]]\nmax-peak = 1\n",
            "b.toml:2: tolerance.absolute: 'much' is not a size", true },
        { "rules = 5\n", "b.toml:1: rules must be a list", true },
        { "[[rules]]\nmax-peak = 1979-05-27\n", "b.toml:2: rule 1: max-peak needs a size or percentage value", true },
        { "# no rules\nversion = 1\n", "b.toml lists no rules", true },
        { "[[rules]]\nmax-peak = \n", "b.toml:2:12: error while parsing key-value pair: expected value", false },
        { "a = \"\xff\"\n", "b.toml:1:", false },
        { "[server]\nport = 1\n", "b.toml:1: table [server] is not part of a tidemark budget", true },
        { "rules = 0\n[[rule]]\nmax-peak = 1\n", "b.toml:2: 'rules' defined twice (a key 'rules' and [[rule]] tables)",
            true },
    };
    for (const auto& c : cases) {
        auto r = parseBudgetToml(c.text, "b.toml");
        ASSERT_FALSE(r.ok()) << c.text;
        const std::string& m = r.error().message;
        if (c.exact)
            EXPECT_EQ(m, c.message) << c.text;
        else
            EXPECT_EQ(m.rfind(c.message, 0), 0u) << m;
        EXPECT_EQ(m.find('\n'), std::string::npos) << m;
    }
}

TEST(Budget, TomlFormsParseToTheSameRules)
{
    // [[rules]] tables, an inline array of tables, dotted keys and the old [[rule]] spelling are one budget.
    const char* forms[] = {
        "[tolerance]\nabsolute = 1_024\n[[rules]]\nspace = \"cuda:0\"\nmax-peak = \"2GiB\"\n"
        "[[rules]]\nphase = \"step/forward\"\nmax-leak = 0\n",
        "tolerance.absolute = 1024\nrules = [ { space = \"cuda:0\", max-peak = \"2GiB\" },\n"
        "          { phase = \"step/forward\", max-leak = 0 } ]\n",
        "[[rule]]\nspace = \"cuda:0\"\nmax-peak = \"2GiB\"\n[tolerance]\nabsolute = \"1KiB\"\n"
        "[[rules]]\nphase = \"step/forward\"\nmax-leak = 0\n",
    };
    for (const char* text : forms) {
        auto b = parseBudgetToml(text, "b.toml");
        ASSERT_TRUE(b.ok()) << text << "\n" << b.error().message;
        ASSERT_EQ(b->rules.size(), 2u) << text;
        EXPECT_EQ(b->rules[0].kind, RuleKind::MaxPeak);
        EXPECT_DOUBLE_EQ(b->rules[0].limit, static_cast<double>(2LL << 30));
        EXPECT_EQ(b->rules[0].space, "cuda:0");
        EXPECT_EQ(b->rules[0].phase, "");
        EXPECT_EQ(b->rules[0].origin, "b.toml rule 1");
        EXPECT_EQ(b->rules[1].kind, RuleKind::MaxLeak);
        EXPECT_DOUBLE_EQ(b->rules[1].limit, 0);
        EXPECT_EQ(b->rules[1].space, "");
        EXPECT_EQ(b->rules[1].phase, "step/forward");
        EXPECT_EQ(b->rules[1].origin, "b.toml rule 2");
        EXPECT_EQ(b->tolerance.absoluteBytes, 1024);
        EXPECT_DOUBLE_EQ(b->tolerance.relative, 0);
    }
}

TEST(Budget, HostileTomlIsAnErrorNotACrash)
{
    // toml++ nests a table per part of a dotted key and frees them recursively: 100 000 parts would
    // overflow the stack inside it, so such a line is refused before parsing.
    std::string header = "[";
    for (int i = 0; i < 100000; ++i)
        header += "a.";
    header += "a]\n";
    auto deep = parseBudgetToml(header, "b.toml");
    ASSERT_FALSE(deep.ok());
    EXPECT_EQ(deep.error().message.rfind("b.toml:1: more than", 0), 0u) << deep.error().message;
    std::string nested = "a = " + std::string(100000, '[') + std::string(100000, ']') + "\n";
    auto arrays = parseBudgetToml(nested, "b.toml");
    ASSERT_FALSE(arrays.ok());
    EXPECT_EQ(arrays.error().message.rfind("b.toml:1:", 0), 0u) << arrays.error().message;
    // Dots inside strings and comments are not key parts.
    auto dots = parseBudgetToml("# " + std::string(100, '.') + "\n[[rules]]\nname = \"" + std::string(100, '.')
            + "\"\nmax-peak = 1.5\n",
        "b.toml");
    ASSERT_TRUE(dots.ok()) << dots.error().message;
    EXPECT_DOUBLE_EQ(dots->rules[0].limit, 2); // 1.5 bytes, rounded
}

TEST(Check, AbsolutePeakLimitIsExactAndToleranceApplies)
{
    Measured r = makeRun("abs.tmdb", {});
    double peak = static_cast<double>(r.truth.devicePeakBytes);
    CheckConfig at { { Rule { RuleKind::MaxPeak, peak, "cuda:0", "", "test" } }, {} };
    EXPECT_EQ(only(check(r.summary, nullptr, at), RuleKind::MaxPeak, "cuda:0").verdict, Verdict::Pass);
    CheckConfig below { { Rule { RuleKind::MaxPeak, peak - 1, "cuda:0", "", "test" } }, {} };
    const auto res = check(r.summary, nullptr, below);
    const auto& fail = only(res, RuleKind::MaxPeak, "cuda:0");
    EXPECT_EQ(fail.verdict, Verdict::Fail);
    EXPECT_DOUBLE_EQ(fail.measured, peak);
    EXPECT_EQ(fail.culpritSite.substr(0, 12), "init_weights"); // 1 MiB of weights, the largest site at the peak
    below.tolerance.absoluteBytes = 1;
    EXPECT_EQ(only(check(r.summary, nullptr, below), RuleKind::MaxPeak, "cuda:0").verdict, Verdict::Pass);
}

TEST(Check, BiggerBatchFailsPeakGrowthNamingSiteAndPhase)
{
    Measured base = makeRun("base.tmdb", {});
    TrainingShape big;
    big.batch = 64;
    Measured grown = makeRun("big.tmdb", big);
    Measured same = makeRun("same.tmdb", {});
    CheckConfig config = defaultConfig(true);
    auto unchanged = check(same.summary, &base.summary, config);
    EXPECT_TRUE(unchanged.ok()) << renderCheckText(unchanged);
    EXPECT_EQ(unchanged.failed, 0);
    auto res = check(grown.summary, &base.summary, config);
    EXPECT_FALSE(res.ok());
    const auto& r = only(res, RuleKind::MaxPeakGrowth, "cuda:0");
    EXPECT_EQ(r.verdict, Verdict::Fail);
    double expected
        = static_cast<double>(grown.truth.devicePeakBytes) / static_cast<double>(base.truth.devicePeakBytes) - 1;
    EXPECT_NEAR(r.measured, expected, 1e-12);
    EXPECT_EQ(r.culpritSite.substr(0, 13), "layer_forward");
    EXPECT_EQ(r.culpritBytes, 4 * 32 * 4096); // four layers of activations, twice the batch
    EXPECT_EQ(r.culpritPhase, "step/forward");
    std::string text = renderCheckText(res);
    EXPECT_NE(text.find("max-peak-growth failed in cuda:0"), std::string::npos) << text;
    EXPECT_NE(text.find("layer_forward"), std::string::npos);
    EXPECT_NE(text.find("step/forward"), std::string::npos);
    // A tolerance larger than the growth lets it pass.
    config.tolerance.relative = expected;
    EXPECT_EQ(
        only(check(grown.summary, &base.summary, config), RuleKind::MaxPeakGrowth, "cuda:0").verdict, Verdict::Pass);
}

TEST(Check, NewLeakFailsLeakGrowthAndNamesTheLeakingSite)
{
    Measured base = makeRun("base2.tmdb", {});
    TrainingShape leaky;
    leaky.leakEvery = 2;
    Measured leak = makeRun("leak.tmdb", leaky);
    auto res = check(leak.summary, &base.summary, defaultConfig(true));
    const auto& r = only(res, RuleKind::MaxLeakGrowth, "cuda:0");
    EXPECT_EQ(r.verdict, Verdict::Fail);
    EXPECT_DOUBLE_EQ(r.measured, static_cast<double>(leak.truth.deviceLeakedBytes));
    EXPECT_EQ(r.culpritSite.substr(0, 11), "leaky_cache");
    EXPECT_EQ(r.culpritPhase, "step/forward");
    EXPECT_EQ(only(res, RuleKind::MaxLeakGrowth, "host").verdict, Verdict::Pass);
    MemorySummary crashed = leak.summary; // a run killed mid-way: live-at-end is no leak verdict
    crashed.cutShort = true;
    EXPECT_EQ(only(check(crashed, &base.summary, defaultConfig(true)), RuleKind::MaxLeakGrowth, "cuda:0").verdict,
        Verdict::Skip);
    CheckConfig perStep { { Rule { RuleKind::MaxGrowthPerStep, 1024, "cuda:0", "", "test" } }, {} };
    const auto g = only(check(leak.summary, nullptr, perStep), RuleKind::MaxGrowthPerStep, "cuda:0");
    EXPECT_EQ(g.verdict, Verdict::Fail);
    EXPECT_NEAR(g.measured, leaky.leakBytes / 2.0, leaky.leakBytes * 0.25); // one leak every two steps
}

TEST(Check, PhaseRuleCountsOnlyThatPhase)
{
    Measured r = makeRun("phase.tmdb", {}, { "step/forward" });
    double forward = 4.0 * 32 * 4096; // the activations live at the peak
    CheckConfig at { { Rule { RuleKind::MaxPeak, forward, "cuda:0", "step/forward", "test" } }, {} };
    const auto pass = only(check(r.summary, nullptr, at), RuleKind::MaxPeak, "cuda:0");
    EXPECT_EQ(pass.verdict, Verdict::Pass);
    EXPECT_DOUBLE_EQ(pass.measured, forward);
    at.rules[0].limit = forward - 1;
    EXPECT_EQ(only(check(r.summary, nullptr, at), RuleKind::MaxPeak, "cuda:0").verdict, Verdict::Fail);
    // A phase that was not measured is skipped with a reason, never silently passed.
    CheckConfig other { { Rule { RuleKind::MaxPeak, 1, "cuda:0", "step/data_loader", "test" } }, {} };
    const auto skip = only(check(r.summary, nullptr, other), RuleKind::MaxPeak, "cuda:0");
    EXPECT_EQ(skip.verdict, Verdict::Skip);
    EXPECT_FALSE(skip.note.empty());
}

TEST(Baseline, JsonRoundTripGivesTheSameVerdicts)
{
    Measured base = makeRun("rt-base.tmdb", {}, { "step/forward" });
    TrainingShape changed;
    changed.batch = 40;
    changed.leakEvery = 3;
    Measured run = makeRun("rt-run.tmdb", changed, { "step/forward" });
    auto parsed = summaryFromJson(summaryToJson(base.summary), "baseline.json");
    ASSERT_TRUE(parsed.ok()) << parsed.error().message;
    EXPECT_EQ(summaryToJson(*parsed), summaryToJson(base.summary));
    CheckConfig config = defaultConfig(true);
    config.rules.push_back(Rule { RuleKind::MaxPeak, 600000, "", "step/forward", "test" });
    config.rules.push_back(Rule { RuleKind::MaxGrowthPerStep, 0, "", "", "test" });
    auto fromRecording = check(run.summary, &base.summary, config);
    auto fromJson = check(run.summary, &*parsed, config);
    ASSERT_EQ(fromRecording.results.size(), fromJson.results.size());
    EXPECT_GT(fromRecording.failed, 0);
    for (size_t i = 0; i < fromJson.results.size(); ++i) {
        EXPECT_EQ(fromJson.results[i].verdict, fromRecording.results[i].verdict) << i;
        EXPECT_DOUBLE_EQ(fromJson.results[i].measured, fromRecording.results[i].measured) << i;
        EXPECT_EQ(fromJson.results[i].culpritSite, fromRecording.results[i].culpritSite) << i;
    }
    EXPECT_FALSE(summaryFromJson(R"({"format": "tidemark-baseline", "version": 99, "spaces": []})", "x").ok());
    EXPECT_FALSE(summaryFromJson(R"({"format": "something-else"})", "x").ok());
}

TEST(Baseline, RepeatAggregatesByMedianOrMax)
{
    std::vector<MemorySummary> runs;
    std::vector<int64_t> peaks;
    for (int64_t batch : { 48, 16, 32 }) {
        TrainingShape s;
        s.batch = batch;
        Measured r = makeRun("rep" + std::to_string(batch) + ".tmdb", s);
        runs.push_back(r.summary);
        peaks.push_back(r.truth.devicePeakBytes);
    }
    auto median = aggregateSummaries(runs, Aggregate::Median);
    auto max = aggregateSummaries(runs, Aggregate::Max);
    ASSERT_TRUE(median.ok() && max.ok());
    std::sort(peaks.begin(), peaks.end());
    EXPECT_EQ(median->find("cuda:0")->find("")->peakBytes, peaks[1]);
    EXPECT_EQ(max->find("cuda:0")->find("")->peakBytes, peaks[2]);
    EXPECT_EQ(median->runs, 3);
    EXPECT_EQ(median->aggregate, "median");
}

namespace {

// A small well-formedness check: every tag closes in order; returns element names in document order.
std::vector<std::string> xmlElements(const std::string& xml, bool& wellFormed)
{
    std::vector<std::string> stack, seen;
    wellFormed = true;
    std::regex tag(R"(<(/?)([A-Za-z_][\w:.-]*)((?:\s+[\w:.-]+="[^"<]*")*)\s*(/?)>)");
    size_t pos = xml.find("?>") + 2;
    for (std::sregex_iterator it(xml.begin() + static_cast<long>(pos), xml.end(), tag), end; it != end; ++it) {
        const auto& m = *it;
        if (m[1] == "/") {
            if (stack.empty() || stack.back() != m[2])
                wellFormed = false;
            else
                stack.pop_back();
        } else {
            seen.push_back(m[2]);
            if (m[4] != "/")
                stack.push_back(m[2]);
        }
    }
    if (!stack.empty())
        wellFormed = false;
    return seen;
}

std::string attr(const std::string& xml, const std::string& element, const std::string& name)
{
    std::smatch m;
    std::regex re("<" + element + "\\b[^>]*\\s" + name + "=\"([^\"]*)\"");
    return std::regex_search(xml, m, re) ? m[1].str() : "<missing>";
}

} // namespace

TEST(Render, JUnitHasTheFieldsCiSystemsRead)
{
    Measured base = makeRun("ju-base.tmdb", {});
    TrainingShape big;
    big.batch = 64;
    big.oddName = "a <weird> & \"name\"";
    Measured grown = makeRun("ju-big.tmdb", big);
    CheckConfig config = defaultConfig(true);
    config.rules.push_back(Rule { RuleKind::MaxGrowthPerStep, 0, "", "", "test" });
    auto res = check(grown.summary, &base.summary, config);
    res.seconds = 0.25;
    std::string xml = renderCheckJUnit(res);
    ASSERT_EQ(xml.rfind("<?xml version=\"1.0\" encoding=\"UTF-8\"?>", 0), 0u);
    bool ok = false;
    auto elements = xmlElements(xml, ok);
    EXPECT_TRUE(ok) << xml;
    ASSERT_FALSE(elements.empty());
    EXPECT_EQ(elements.front(), "testsuites");
    EXPECT_EQ(std::count(elements.begin(), elements.end(), "testsuite"), 1);
    EXPECT_EQ(std::count(elements.begin(), elements.end(), "testcase"), static_cast<long>(res.results.size()));
    EXPECT_EQ(std::count(elements.begin(), elements.end(), "failure"), res.failed);
    EXPECT_EQ(std::count(elements.begin(), elements.end(), "skipped"), res.skipped);
    EXPECT_EQ(attr(xml, "testsuites", "tests"), std::to_string(res.results.size()));
    EXPECT_EQ(attr(xml, "testsuites", "failures"), std::to_string(res.failed));
    EXPECT_EQ(attr(xml, "testsuite", "name"), "tidemark check run");
    EXPECT_EQ(attr(xml, "testsuite", "time"), "0.250");
    EXPECT_EQ(attr(xml, "testcase", "classname").rfind("tidemark.check.", 0), 0u);
    EXPECT_EQ(attr(xml, "failure", "type"), "max-peak-growth");
    EXPECT_NE(attr(xml, "failure", "message").find("layer_forward"), std::string::npos);
    std::string md = renderCheckMarkdown(res);
    EXPECT_NE(md.find("❌"), std::string::npos);
    EXPECT_EQ(std::count(md.begin(), md.end(), '\n'), static_cast<long>(res.results.size()) + 6);
}

TEST(Render, CheckJsonIsTheMeasuredResult)
{
    Measured base = makeRun("js-base.tmdb", {});
    TrainingShape big;
    big.batch = 64;
    Measured grown = makeRun("js-big.tmdb", big);
    CheckConfig config = defaultConfig(true);
    config.rules.push_back(Rule { RuleKind::MaxPeak, 1, "cuda:0", "step/data_loader", "budget.toml rule 3" });
    CheckResult res = check(grown.summary, &base.summary, config);
    res.baseline = "base.json";
    nlohmann::json doc = checkJson(res);
    EXPECT_EQ(doc["format"], "tidemark-check");
    EXPECT_EQ(doc["ok"], false);
    EXPECT_EQ(doc["baseline"], "base.json");
    EXPECT_EQ(doc["passed"], res.passed);
    EXPECT_EQ(doc["failed"], res.failed);
    EXPECT_EQ(doc["skipped"], res.skipped);
    ASSERT_EQ(doc["results"].size(), res.results.size());
    int seen = 0;
    for (const auto& r : doc["results"]) {
        if (r["rule"] == "max-peak-growth" && r["space"] == "cuda:0") {
            ++seen;
            EXPECT_EQ(r["verdict"], "fail");
            EXPECT_DOUBLE_EQ(r["baseline"].get<double>(), static_cast<double>(base.truth.devicePeakBytes));
            EXPECT_NEAR(r["measured"].get<double>(),
                static_cast<double>(grown.truth.devicePeakBytes) / static_cast<double>(base.truth.devicePeakBytes) - 1,
                1e-12);
            EXPECT_EQ(r["site"]["label"].get<std::string>().substr(0, 13), "layer_forward");
            EXPECT_EQ(r["site"]["growth_bytes"], 4 * 32 * 4096);
            EXPECT_EQ(r["culprit_phase"], "step/forward");
            EXPECT_EQ(r["origin"], "default");
        }
        if (r["rule"] == "max-peak" && r["phase"] == "step/data_loader") {
            ++seen;
            EXPECT_EQ(r["verdict"], "skip"); // the phase was not summarized: skipped with a note, no measure
            EXPECT_FALSE(r.contains("measured"));
            EXPECT_FALSE(r["note"].get<std::string>().empty());
            EXPECT_EQ(r["origin"], "budget.toml rule 3");
        }
    }
    EXPECT_EQ(seen, 2) << dumpJson(doc, 2);
    EXPECT_EQ(renderCheckJson(res), dumpJson(doc, 2) + "\n");
}

TEST(Render, ValuesGiveTheBytesTheReparsedTextGave)
{
    // cmd_check's --json with several ranks and rank diffs used to re-parse the text of two renderers
    // and print the combination; the values combined directly must print the same bytes, names that are
    // not UTF-8 included.
    std::vector<MemorySummary> ranks;
    for (int rank : { 0, 1 }) {
        TrainingShape s;
        s.rank = rank;
        s.batch = rank == 0 ? 16 : 48;
        s.leakEvery = rank == 1 ? 2 : 0;
        s.oddName = "odd \xff\xfe name, \"quoted\"\n";
        ranks.push_back(makeRun("bytes-rank" + std::to_string(rank) + ".tmdb", s).summary);
    }
    CheckConfig config { { Rule { RuleKind::MaxPeak, 1e5, "", "", "command line" },
                             Rule { RuleKind::MaxGrowthPerStep, 0, "", "", "command line" } },
        {} };
    CheckResult res;
    evaluateRules(ranks[0], nullptr, config, "rank 0", res);
    evaluateRules(ranks[1], nullptr, config, "rank 1", res);
    RankTable table = rankTable(ranks);
    nlohmann::json reparsed = nlohmann::json::parse(renderCheckJson(res));
    reparsed["ranks"] = nlohmann::json::parse(renderRanksJson(table));
    nlohmann::json direct = checkJson(res);
    direct["ranks"] = ranksJson(table);
    EXPECT_EQ(dumpJson(direct, 2), dumpJson(reparsed, 2));
    EXPECT_GT(res.failed, 0);
    ASSERT_EQ(direct["ranks"]["ranks"].size(), table.rows.size());

    auto d = diffRanks(ranks, { ranks[1], ranks[0] }, ""); // paired by rank number, not file order
    ASSERT_TRUE(d.ok()) << d.error().message;
    nlohmann::json rd = nlohmann::json::parse(renderRankDiffJson(*d));
    EXPECT_EQ(rd["a"], nlohmann::json::parse(renderRanksJson(d->a)));
    EXPECT_EQ(rd["b"], nlohmann::json::parse(renderRanksJson(d->b)));
    EXPECT_EQ(rd["a"]["imbalance"].size(), d->a.imbalance.size());
    ASSERT_EQ(rd["pairs"].size(), 2u);
    EXPECT_EQ(rd["pairs"][1]["diff"]["spaces"].size(), d->pairs[1].spaces.size());
}

TEST(Ranks, ImbalanceNamesTheHighestRank)
{
    std::vector<MemorySummary> ranks;
    std::vector<int64_t> peaks;
    for (int rank : { 1, 0, 2 }) { // given out of order, as a shell glob might
        TrainingShape s;
        s.rank = rank;
        s.batch = rank == 2 ? 64 : 32;
        Measured r = makeRun("rank" + std::to_string(rank) + ".tmdb", s);
        ranks.push_back(r.summary);
        peaks.push_back(r.truth.devicePeakBytes);
    }
    RankTable t = rankTable(ranks);
    const RankImbalance* im = nullptr;
    for (const auto& i : t.imbalance)
        if (i.space == "cuda:0")
            im = &i;
    ASSERT_NE(im, nullptr);
    EXPECT_EQ(im->ranks, 3);
    EXPECT_EQ(im->highestRank, 2);
    EXPECT_EQ(im->maxBytes, peaks[2]);
    EXPECT_EQ(im->minBytes, peaks[0]);
    EXPECT_EQ(im->meanBytes, (peaks[0] + peaks[1] + peaks[2]) / 3);
    EXPECT_EQ(im->maxMinusMean, peaks[2] - im->meanBytes);
    EXPECT_DOUBLE_EQ(im->maxOverMin, static_cast<double>(peaks[2]) / static_cast<double>(peaks[0]));
    std::string text = renderRanksText(t);
    EXPECT_NE(text.find("rank 2 peaks highest"), std::string::npos) << text;
}

TEST(Diff, PeakBySiteSortedByChangeWithTotals)
{
    Measured a = makeRun("diff-a.tmdb", {});
    TrainingShape big;
    big.batch = 48;
    big.leakEvery = 2;
    Measured b = makeRun("diff-b.tmdb", big);
    Diff d = diffSummaries(a.summary, b.summary, "cuda:0");
    ASSERT_EQ(d.spaces.size(), 1u);
    const SpaceDiff& s = d.spaces[0];
    EXPECT_EQ(s.peakA, a.truth.devicePeakBytes);
    EXPECT_EQ(s.peakB, b.truth.devicePeakBytes);
    EXPECT_EQ(s.leakedB - s.leakedA, b.truth.deviceLeakedBytes);
    const DiffTable& bySite = s.tables[0];
    ASSERT_GE(bySite.rows.size(), 2u);
    for (size_t i = 1; i < bySite.rows.size(); ++i)
        EXPECT_GE(std::fabs(bySite.rows[i - 1].delta()), std::fabs(bySite.rows[i].delta()));
    EXPECT_DOUBLE_EQ(bySite.totalB - bySite.totalA, static_cast<double>(s.peakB - s.peakA));
    const DiffTable& leaks = s.tables[2];
    ASSERT_FALSE(leaks.rows.empty());
    EXPECT_EQ(leaks.rows[0].label.substr(0, 11), "leaky_cache");
    EXPECT_DOUBLE_EQ(leaks.rows[0].delta(), static_cast<double>(b.truth.deviceLeakedBytes));
    EXPECT_NE(renderDiffText(d).find("total"), std::string::npos);
}

TEST(Ranks, MultiRankReportHasTheTableAndEveryRank)
{
    std::vector<std::string> paths;
    for (int rank : { 0, 1 }) {
        TrainingShape s;
        s.rank = rank;
        s.batch = rank == 0 ? 16 : 32;
        paths.push_back(tempPath("report-rank" + std::to_string(rank) + ".tmdb"));
        ASSERT_TRUE(tidemark::testing::writeTrainingRecording(paths.back(), s).ok());
    }
    auto text = renderMultiRankReport(paths, ReportOptions {}, "text");
    ASSERT_TRUE(text.ok()) << text.error().message;
    EXPECT_NE(text->find("per-rank peaks (2 ranks)"), std::string::npos) << *text;
    EXPECT_NE(text->find("cuda:0: rank 1 peaks highest"), std::string::npos) << *text;
    EXPECT_NE(text->find("\nrank 0 (" + paths[0] + ")"), std::string::npos) << *text;
    EXPECT_NE(text->find("\nrank 1 (" + paths[1] + ")"), std::string::npos) << *text;
    auto json = renderMultiRankReport(paths, ReportOptions {}, "json");
    ASSERT_TRUE(json.ok());
    EXPECT_NE(json->find("\"tidemark-multi-rank-report\""), std::string::npos);
    // Each rank's report is embedded as the value 'report --format json' prints for that file alone.
    nlohmann::json doc = nlohmann::json::parse(*json);
    ASSERT_EQ(doc["reports"].size(), 2u);
    for (size_t i = 0; i < paths.size(); ++i) {
        auto rec = Recording::open(paths[i]);
        ASSERT_TRUE(rec.ok());
        auto alone = buildReport(*rec, ReportOptions {});
        ASSERT_TRUE(alone.ok());
        EXPECT_EQ(doc["reports"][i]["file"], paths[i]);
        EXPECT_EQ(dumpJson(doc["reports"][i]["report"]), dumpJson(nlohmann::json::parse(renderJson(*alone))));
        EXPECT_EQ(doc["reports"][i]["report"]["file"], paths[i]);
    }
    auto missing = renderMultiRankReport({ paths[0], tempPath("nope.tmdb") }, ReportOptions {}, "text");
    EXPECT_FALSE(missing.ok());
}
