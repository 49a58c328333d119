// The CI memory-regression gate: rules (limits on peak, leaks and growth per step, absolute or against
// a baseline, per space and phase) from the command line or a budget file (JSON, or a TOML subset),
// evaluated on memory summaries, and rendered as text, JSON, JUnit XML and Markdown.
#pragma once

#include "analysis/baseline.h"
#include "trace/result.h"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tidemark::analysis {

enum class RuleKind {
    MaxPeak, // peak bytes <= limit
    MaxPeakGrowth, // peak / baseline peak - 1 <= limit (a fraction; 0.05 = 5%)
    MaxLeak, // leaked bytes <= limit
    MaxLeakGrowth, // leaked bytes - baseline leaked bytes <= limit
    MaxGrowthPerStep, // live bytes gained per training step <= limit
};
const char* ruleName(RuleKind kind); // "max-peak", ...
std::optional<RuleKind> ruleFromName(std::string_view name);
bool ruleNeedsBaseline(RuleKind kind);

struct Rule {
    RuleKind kind = RuleKind::MaxPeak;
    double limit = 0; // bytes, or a fraction for MaxPeakGrowth
    std::string space; // space name or kind; empty = every space of the run
    std::string phase; // phase filter; empty = the whole space
    std::string origin; // where the rule came from ("command line", "budget.toml rule 2")
};

// A failing measure may exceed its limit by absoluteBytes + relative x |limit| (numpy's isclose
// convention); for MaxPeakGrowth both apply to the peak in bytes, not to the percentage.
struct Tolerance {
    int64_t absoluteBytes = 0;
    double relative = 0.0;
};

struct CheckConfig {
    std::vector<Rule> rules;
    Tolerance tolerance;
};

// "512MiB", "1.5GB", "100000", "64k" (k/M/G/T alone are binary). Usage error on anything else.
Result<int64_t> parseSize(std::string_view text);
// "5%" or "5" → 0.05; negative values are allowed (a required improvement).
Result<double> parsePercent(std::string_view text);

// Reads a budget: JSON, or TOML when the file ends in .toml (docs/ci.md lists the subset).
Result<CheckConfig> loadBudget(const std::string& path);
Result<CheckConfig> parseBudgetJson(const std::string& text, const std::string& origin);
Result<CheckConfig> parseBudgetToml(const std::string& text, const std::string& origin);

// Without rules: when a baseline is given, the defaults (max-peak-growth 5%, max-leak-growth 0).
CheckConfig defaultConfig(bool haveBaseline);

enum class Verdict { Pass, Fail, Skip };
const char* verdictName(Verdict v); // pass | fail | skip

struct RuleResult {
    Rule rule;
    std::string subject; // the run (file, or "rank N")
    std::string space; // resolved space name
    std::string phase;
    Verdict verdict = Verdict::Skip;
    double measured = 0; // bytes, or a fraction for MaxPeakGrowth
    double limit = 0; // as given
    double allowed = 0; // limit plus tolerance, in the measured unit
    std::optional<double> baselineValue;
    std::string measuredText; // human forms
    std::string limitText;
    std::string culpritSite; // failures: the site responsible (largest, or grew most vs the baseline)
    std::string culpritPhase; // and its phase
    int64_t culpritBytes = 0; // its bytes, or its growth against the baseline when culpritGrowth
    bool culpritGrowth = false;
    std::string note; // why skipped, or a detail of the failure
};

struct CheckResult {
    std::string baseline; // source of the baseline, empty without one
    std::vector<RuleResult> results;
    int passed = 0;
    int failed = 0;
    int skipped = 0;
    double seconds = 0.0; // time spent measuring and evaluating (JUnit "time")
    bool ok() const { return failed == 0; }
};

// Evaluates every rule on one run; appends to result. subject names the run in the output.
void evaluateRules(const MemorySummary& run, const MemorySummary* baseline, const CheckConfig& config,
    const std::string& subject, CheckResult& result);

std::string renderCheckText(const CheckResult& result);
std::string renderCheckJson(const CheckResult& result, int indent = 2);
std::string renderCheckJUnit(const CheckResult& result);
std::string renderCheckMarkdown(const CheckResult& result);

} // namespace tidemark::analysis
