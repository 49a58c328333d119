// `tidemark check`: the CI memory-regression gate. Measures one run (or repeated runs, or one file per
// rank), evaluates every rule from the command line and the budget, prints each verdict with the site
// and phase behind failures, and exits 1 when a rule failed.
#include "analysis/check.h"
#include "analysis/check_render.h"
#include "analysis/json_io.h"
#include "analysis/ranks.h"
#include "cli/command.h"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <fstream>

namespace {

using namespace tidemark;
using namespace tidemark::analysis;

constexpr const char* kHelp = R"(usage: tidemark check FILE... [options]

Fails (exit 1) when a run's memory breaks a rule: an absolute limit, or growth against a baseline.
Every rule is evaluated and listed with what it measured; a failure names the call site and the
phase responsible. Exit codes: 0 every rule passed, 1 a rule failed, 2 usage error or unreadable input.

FILE is a recording (.tmdb). Several FILEs are one file per rank (each checked, plus a per-rank
table and the imbalance), or with --repeat repeated runs of one job aggregated before checking.

rules (SIZE: 512MiB, 1.5GB, 64k, 100000; PCT: 5% or 5):
  --max-peak SIZE             peak live bytes of each space
  --max-peak-growth PCT       peak against the baseline's (needs --baseline)
  --max-leak SIZE             bytes leaked (sites that leave memory behind step after step)
  --max-leak-growth SIZE      leaked bytes against the baseline's (needs --baseline)
  --max-growth-per-step SIZE  live bytes gained per NVTX training step
  --budget FILE               rules per space and phase from FILE (.json or .toml; docs/ci.md)
  with --baseline and no rule: --max-peak-growth 5% --max-leak-growth 0

options:
  --baseline BASE      a recording or a JSON summary ('tidemark summarize'); repeat it once per
                       FILE to pair rank with rank, or with --repeat to aggregate baselines too
  --space S            command-line rules (and the budget) only for space S (cuda:0, host, device, ...)
  --phase P            command-line rules count only allocations made in phase P
  --tolerance SIZE     absolute slack added to every limit (default 0)
  --tolerance-pct PCT  relative slack: of the limit, or of the baseline value for -growth rules
  --repeat             FILEs are repeated runs of one job: aggregate them, then check once
  --aggregate median|max   how --repeat combines runs (default median)
  --json               print the verdicts as JSON
  --markdown           print a Markdown summary for a pull request
  --junit FILE         also write JUnit XML (one testcase per rule and space) to FILE
  -h, --help           show this help

examples:
  tidemark check run.tmdb --baseline ci/baseline.json --max-peak-growth 5% --junit check.xml
  tidemark check run.tmdb --max-peak 2GiB --space cuda:0 --phase step/forward
  tidemark check run1.tmdb run2.tmdb run3.tmdb --repeat --aggregate max --baseline ci/baseline.json
)";

struct Options {
    std::vector<std::string> files, baselines;
    std::string budget, space, phase, junit, format = "text";
    std::vector<Rule> rules;
    Tolerance tolerance;
    bool repeat = false;
    Aggregate aggregate = Aggregate::Median;
};

int parseRuleOption(const std::string& name, const std::string& value, Options& o)
{
    RuleKind kind = *ruleFromName(name.substr(2));
    double limit = 0;
    if (kind == RuleKind::MaxPeakGrowth) {
        auto p = parsePercent(value);
        if (!p)
            return cli::fail(name + ": " + p.error().message, p.error().hint);
        limit = *p;
    } else {
        auto s = parseSize(value);
        if (!s)
            return cli::fail(name + ": " + s.error().message, s.error().hint);
        limit = static_cast<double>(*s);
    }
    o.rules.push_back(Rule { kind, limit, "", "", "command line" });
    return -1;
}

int parse(const std::vector<std::string>& args, Options& o)
{
    for (size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        bool flag = a == "--repeat" || a == "--json" || a == "--markdown";
        if (!flag && a.rfind("--", 0) == 0 && i + 1 >= args.size())
            return cli::fail("option " + a + " needs a value", "see 'tidemark check --help'");
        if (a == "--repeat") {
            o.repeat = true;
        } else if (a == "--json" || a == "--markdown") {
            o.format = a.substr(2);
        } else if (a == "--baseline") {
            o.baselines.push_back(args[++i]);
        } else if (a == "--budget") {
            o.budget = args[++i];
        } else if (a == "--space") {
            o.space = args[++i];
        } else if (a == "--phase") {
            o.phase = args[++i];
        } else if (a == "--junit") {
            o.junit = args[++i];
        } else if (a == "--aggregate") {
            const std::string& v = args[++i];
            if (v != "median" && v != "max")
                return cli::fail("--aggregate must be 'median' or 'max', not '" + v + "'");
            o.aggregate = v == "max" ? Aggregate::Max : Aggregate::Median;
        } else if (a == "--tolerance" || a == "--tolerance-pct") {
            if (a == "--tolerance") {
                auto s = parseSize(args[++i]);
                if (!s)
                    return cli::fail("--tolerance: " + s.error().message, s.error().hint);
                o.tolerance.absoluteBytes = *s;
            } else {
                auto p = parsePercent(args[++i]);
                if (!p)
                    return cli::fail("--tolerance-pct: " + p.error().message, p.error().hint);
                o.tolerance.relative = *p;
            }
        } else if (a.rfind("--", 0) == 0 && ruleFromName(a.substr(2))) {
            if (int rc = parseRuleOption(a, args[++i], o); rc >= 0)
                return rc;
        } else if (!a.empty() && a[0] == '-') {
            return cli::fail("unknown option '" + a + "'", "see 'tidemark check --help'");
        } else {
            o.files.push_back(a);
        }
    }
    if (o.files.empty())
        return cli::fail("no recording given", "usage: tidemark check FILE... [--baseline BASE] [--max-peak SIZE] ...");
    return -1;
}

// Collects the rules: command line (scoped by --space/--phase), then the budget, then the defaults.
Result<CheckConfig> buildConfig(const Options& o)
{
    CheckConfig config;
    for (Rule r : o.rules) {
        r.space = o.space;
        r.phase = o.phase;
        config.rules.push_back(r);
    }
    if (!o.budget.empty()) {
        auto b = loadBudget(o.budget);
        if (!b)
            return b.error();
        for (const auto& r : b->rules)
            if (o.space.empty() || r.space.empty() || r.space == o.space)
                config.rules.push_back(
                    Rule { r.kind, r.limit, r.space.empty() ? o.space : r.space, r.phase, r.origin });
        config.tolerance = b->tolerance;
    }
    if (config.rules.empty())
        config.rules = defaultConfig(!o.baselines.empty()).rules;
    if (config.rules.empty())
        return makeError(ErrorCode::Usage, "no rules to check",
            "give --baseline, a limit such as --max-peak 2GiB, or --budget FILE");
    if (o.tolerance.absoluteBytes)
        config.tolerance.absoluteBytes = o.tolerance.absoluteBytes;
    if (o.tolerance.relative != 0)
        config.tolerance.relative = o.tolerance.relative;
    for (const auto& r : config.rules)
        if (ruleNeedsBaseline(r.kind) && o.baselines.empty())
            return makeError(ErrorCode::Usage, std::string(ruleName(r.kind)) + " (" + r.origin + ") needs --baseline",
                "make one with 'tidemark summarize main.tmdb -o baseline.json'");
    return config;
}

Result<std::vector<MemorySummary>> loadAll(const std::vector<std::string>& paths, const SummarizeOptions& so)
{
    std::vector<MemorySummary> out;
    for (const auto& p : paths) {
        auto s = loadSummary(p, so);
        if (!s)
            return s.error();
        out.push_back(std::move(*s));
    }
    return out;
}

} // namespace

namespace {

int run(const std::vector<std::string>& args)
{
    if (cli::wantsHelp(args)) {
        std::fputs(kHelp, stdout);
        return 0;
    }
    Options o;
    if (int rc = parse(args, o); rc >= 0)
        return rc;
    auto config = buildConfig(o);
    if (!config)
        return cli::fail(config.error());
    auto started = std::chrono::steady_clock::now();
    SummarizeOptions so;
    so.space = o.space;
    so.phasesAtPeak = false;
    for (const auto& r : config->rules)
        if (!r.phase.empty())
            so.phases.push_back(r.phase);
    auto runs = loadAll(o.files, so);
    if (!runs)
        return cli::fail(runs.error());
    auto bases = loadAll(o.baselines, so);
    if (!bases)
        return cli::fail(bases.error());
    if (o.repeat) {
        auto a = aggregateSummaries(*runs, o.aggregate);
        auto b = aggregateSummaries(*bases, o.aggregate);
        runs = std::vector<MemorySummary> { *a };
        if (!bases->empty())
            bases = std::vector<MemorySummary> { *b };
    }
    if (bases->size() > 1 && bases->size() != runs->size())
        return cli::fail(
            "got " + std::to_string(bases->size()) + " baselines for " + std::to_string(runs->size()) + " runs",
            "give one baseline for every run, or one for all");
    CheckResult result;
    if (!bases->empty())
        result.baseline = bases->size() == 1 ? bases->front().source : std::to_string(bases->size()) + " baselines";
    std::vector<int64_t> ranks = rankNumbers(*runs);
    for (size_t i = 0; i < runs->size(); ++i) {
        const MemorySummary* base = bases->empty() ? nullptr : &(*bases)[bases->size() == 1 ? 0 : i];
        std::string subject = o.repeat ? std::to_string((*runs)[i].runs) + " runs (" + (*runs)[i].aggregate + ")"
                                       : (runs->size() > 1 ? "rank " + std::to_string(ranks[i]) : o.files[i]);
        evaluateRules((*runs)[i], base, *config, subject, result);
    }
    result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    bool perRank = !o.repeat && runs->size() > 1;
    if (o.format == "json") {
        nlohmann::json doc = checkJson(result);
        if (perRank)
            doc["ranks"] = ranksJson(rankTable(*runs));
        std::fputs((analysis::dumpJson(doc, 2) + "\n").c_str(), stdout);
    } else if (o.format == "markdown") {
        std::string md = renderCheckMarkdown(result);
        if (perRank)
            md += "\n#### Per-rank peaks\n\n" + renderRanksMarkdown(rankTable(*runs));
        std::fputs(md.c_str(), stdout);
    } else {
        if (perRank)
            std::fputs((renderRanksText(rankTable(*runs)) + "\n").c_str(), stdout);
        std::fputs(renderCheckText(result).c_str(), stdout);
    }
    if (!o.junit.empty()) {
        std::ofstream out(o.junit, std::ios::binary | std::ios::trunc);
        if (!(out << renderCheckJUnit(result)) || !out.flush())
            return cli::fail("cannot write JUnit report " + o.junit);
    }
    return result.ok() ? cli::kExitOk : cli::kExitCheckFailed;
}

tidemark::cli::Registration reg(
    { "check", "fail (exit 1) when memory breaks a budget or regresses against a baseline", run, 400, kHelp });

} // namespace
