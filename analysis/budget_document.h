// Inside analysis: a budget already parsed into a JSON value (from a JSON file, or converted from
// TOML) checked and turned into a CheckConfig, with the line of each value when the format has lines.
#pragma once

#include "analysis/budget.h"

#include <nlohmann/json.hpp>

#include <map>
#include <string>

namespace tidemark::analysis {

// The line of each value of a budget, by JSON pointer ("/rules/0/max-peak"); TOML budgets have them.
using BudgetLines = std::map<std::string, int>;

// Errors name the value's line when lines is given ("b.toml:7: rule 2: unknown key 'max-peek'"), the
// file and rule otherwise ("b.json rule 2: unknown key 'max-peek'").
Result<CheckConfig> budgetFromDocument(const nlohmann::json& doc, const std::string& origin, const BudgetLines* lines);

} // namespace tidemark::analysis
