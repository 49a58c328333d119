// A budget for the CI memory gate: the rules (limits on peak, leaks and growth per step, absolute or
// against a baseline, per space and phase) and their tolerance, read from the command line's sizes and
// percentages or from a budget file (JSON, or TOML). check.h measures them; check_render.h prints them.
#pragma once

#include "trace/result.h"

#include <cstdint>
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

// Reads a budget: JSON, or TOML when the file ends in .toml (read with toml++; docs/ci.md). Every
// problem is one error naming the file, and for TOML the line.
Result<CheckConfig> loadBudget(const std::string& path);
Result<CheckConfig> parseBudgetJson(const std::string& text, const std::string& origin);
Result<CheckConfig> parseBudgetToml(const std::string& text, const std::string& origin);

// Without rules: when a baseline is given, the defaults (max-peak-growth 5%, max-leak-growth 0).
CheckConfig defaultConfig(bool haveBaseline);

} // namespace tidemark::analysis
