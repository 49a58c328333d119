// The CI memory-regression gate's measuring: every rule of a budget (budget.h) evaluated on memory
// summaries, a verdict per rule and space with what was measured and the site and phase behind a
// failure. check_render.h renders the result as text, JSON, JUnit XML and Markdown.
#pragma once

#include "analysis/baseline.h"
#include "analysis/budget.h"

#include <optional>
#include <string>
#include <vector>

namespace tidemark::analysis {

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

} // namespace tidemark::analysis
