// The CI gate's verdicts as text (the terminal), a JSON value (--json, and the document cmd_check adds
// the per-rank table to), JUnit XML (CI test reports) and Markdown (a pull-request comment).
#pragma once

#include "analysis/check.h"

#include <nlohmann/json.hpp>

#include <string>

namespace tidemark::analysis {

std::string renderCheckText(const CheckResult& result);
// {"format": "tidemark-check", "version": 1, "ok", "passed", "failed", "skipped", "baseline", "results"}.
nlohmann::json checkJson(const CheckResult& result);
std::string renderCheckJson(const CheckResult& result, int indent = 2); // checkJson as text, with a newline
std::string renderCheckJUnit(const CheckResult& result);
std::string renderCheckMarkdown(const CheckResult& result);

} // namespace tidemark::analysis
