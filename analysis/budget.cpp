// Budget files of `tidemark check`: rule names, sizes and percentages as people write them, and the
// checks every budget passes, JSON or TOML (budget_toml.cpp converts TOML first). Nothing here reads a
// recording.
#include "analysis/budget.h"

#include "analysis/budget_document.h"
#include "analysis/json_io.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <fstream>
#include <map>
#include <sstream>
#include <utility>

namespace tidemark::analysis {

using nlohmann::json;

namespace {
    constexpr const char* kRuleNames[]
        = { "max-peak", "max-peak-growth", "max-leak", "max-leak-growth", "max-growth-per-step" };
}

const char* ruleName(RuleKind kind)
{
    return kRuleNames[static_cast<int>(kind)];
}

std::optional<RuleKind> ruleFromName(std::string_view name)
{
    for (int i = 0; i < 5; ++i)
        if (name == kRuleNames[i])
            return static_cast<RuleKind>(i);
    return std::nullopt;
}

bool ruleNeedsBaseline(RuleKind kind)
{
    return kind == RuleKind::MaxPeakGrowth || kind == RuleKind::MaxLeakGrowth;
}

// ---- sizes and percentages -----------------------------------------------------------------

Result<int64_t> parseSize(std::string_view text)
{
    std::string s(text);
    s.erase(std::remove_if(s.begin(), s.end(), [](unsigned char c) { return std::isspace(c); }), s.end());
    size_t pos = 0;
    while (pos < s.size() && (std::isdigit(static_cast<unsigned char>(s[pos])) || s[pos] == '.' || s[pos] == '_'))
        ++pos;
    std::string number = s.substr(0, pos);
    number.erase(std::remove(number.begin(), number.end(), '_'), number.end());
    std::string unit = s.substr(pos);
    for (auto& c : unit)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    static const std::map<std::string, double> kUnits = { { "", 1 }, { "b", 1 }, { "k", 1024.0 }, { "kb", 1e3 },
        { "kib", 1024.0 }, { "m", 1048576.0 }, { "mb", 1e6 }, { "mib", 1048576.0 }, { "g", 1073741824.0 },
        { "gb", 1e9 }, { "gib", 1073741824.0 }, { "t", 1099511627776.0 }, { "tb", 1e12 }, { "tib", 1099511627776.0 } };
    auto u = kUnits.find(unit);
    char* end = nullptr;
    double v = number.empty() ? 0 : std::strtod(number.c_str(), &end);
    if (number.empty() || *end != '\0' || u == kUnits.end() || !std::isfinite(v * u->second) || v * u->second > 9.2e18)
        return makeError(ErrorCode::Usage, "'" + std::string(text) + "' is not a size",
            "write sizes like 512MiB, 1.5GB, 64k or 100000 (bytes)");
    return static_cast<int64_t>(std::llround(v * u->second));
}

Result<double> parsePercent(std::string_view text)
{
    std::string s(text);
    if (!s.empty() && s.back() == '%')
        s.pop_back();
    char* end = nullptr;
    double v = s.empty() ? 0 : std::strtod(s.c_str(), &end);
    if (s.empty() || *end != '\0' || !std::isfinite(v))
        return makeError(
            ErrorCode::Usage, "'" + std::string(text) + "' is not a percentage", "write percentages like 5% or 2.5");
    return v / 100.0;
}

// ---- budget files ----------------------------------------------------------------------------

namespace {

    std::string scalarText(const json& v)
    {
        if (v.is_string())
            return v.get<std::string>();
        if (v.is_number_integer())
            return std::to_string(v.get<int64_t>());
        if (v.is_number())
            return dumpJson(json(v));
        return {};
    }

    Result<double> ruleLimit(RuleKind kind, const json& v, const std::string& where)
    {
        std::string text = scalarText(v);
        if (text.empty())
            return makeError(ErrorCode::Usage, where + ": " + ruleName(kind) + " needs a size or percentage value");
        if (kind == RuleKind::MaxPeakGrowth) {
            auto p = parsePercent(text);
            if (!p)
                return makeError(ErrorCode::Usage, where + ": " + p.error().message, p.error().hint);
            return *p;
        }
        auto s = parseSize(text);
        if (!s)
            return makeError(ErrorCode::Usage, where + ": " + s.error().message, s.error().hint);
        return static_cast<double>(*s);
    }

} // namespace

namespace {

    // The line of the value at pointer, or of the nearest value holding it; 0 without lines.
    int lineOf(const BudgetLines* lines, std::string pointer)
    {
        while (lines) {
            auto it = lines->find(pointer);
            if (it != lines->end())
                return it->second;
            size_t slash = pointer.rfind('/');
            if (slash == std::string::npos)
                break;
            pointer.erase(slash);
        }
        return 0;
    }

    // Where an error is: "b.json rule 2" (or "b.json"), or with a line "b.toml:7: rule 2" ("b.toml:7").
    std::string locate(
        const std::string& origin, const BudgetLines* lines, const std::string& pointer, const std::string& rule = {})
    {
        int line = lineOf(lines, pointer);
        if (line == 0)
            return rule.empty() ? origin : origin + " " + rule;
        return origin + ":" + std::to_string(line) + (rule.empty() ? "" : ": " + rule);
    }

    Result<Tolerance> tolerance(const json& t, const std::string& origin, const BudgetLines* lines)
    {
        Tolerance out;
        if (!t.is_object())
            return makeError(ErrorCode::Usage,
                locate(origin, lines, "/tolerance") + ": tolerance must be a table with absolute and relative");
        if (t.contains("absolute")) {
            auto a = parseSize(scalarText(t["absolute"]));
            if (!a)
                return makeError(ErrorCode::Usage,
                    locate(origin, lines, "/tolerance/absolute") + ": tolerance.absolute: " + a.error().message);
            out.absoluteBytes = *a;
        }
        if (t.contains("relative")) {
            auto r = parsePercent(scalarText(t["relative"]));
            if (!r)
                return makeError(ErrorCode::Usage,
                    locate(origin, lines, "/tolerance/relative") + ": tolerance.relative: " + r.error().message);
            out.relative = *r;
        }
        return out;
    }

    // The limits of one rule table (index i of "rules"), appended to rules.
    Result<int> ruleTable(
        const json& r, size_t i, const std::string& origin, const BudgetLines* lines, std::vector<Rule>& rules)
    {
        std::string pointer = "/rules/" + std::to_string(i);
        std::string name = "rule " + std::to_string(i + 1);
        std::string where = origin + " " + name; // the rule's origin in every output
        if (!r.is_object())
            return makeError(ErrorCode::Usage, locate(origin, lines, pointer, name) + " is not a table");
        for (const char* key : { "space", "phase", "name" })
            if (r.contains(key) && !r[key].is_string())
                return makeError(ErrorCode::Usage,
                    locate(origin, lines, pointer + "/" + key, name) + ": " + key + " must be a string");
        int found = 0;
        for (const auto& [key, value] : r.items()) {
            if (key == "space" || key == "phase" || key == "name")
                continue;
            std::string at = locate(origin, lines, pointer + "/" + key, name);
            auto kind = ruleFromName(key);
            if (!kind)
                return makeError(ErrorCode::Usage, at + ": unknown key '" + key + "'",
                    "rule keys: space, phase, max-peak, max-peak-growth, max-leak, max-leak-growth, "
                    "max-growth-per-step");
            auto limit = ruleLimit(*kind, value, at);
            if (!limit)
                return limit.error();
            rules.push_back(Rule { *kind, *limit, r.value("space", ""), r.value("phase", ""), where });
            ++found;
        }
        if (found == 0)
            return makeError(
                ErrorCode::Usage, locate(origin, lines, pointer, name) + " has no limit (max-peak, max-leak, ...)");
        return found;
    }

} // namespace

Result<CheckConfig> budgetFromDocument(const json& doc, const std::string& origin, const BudgetLines* lines)
{
    if (doc.contains("version") && (!doc["version"].is_number_integer() || doc["version"].get<int>() != 1))
        return makeError(ErrorCode::Usage, locate(origin, lines, "/version") + ": budget version must be 1");
    CheckConfig c;
    if (doc.contains("tolerance")) {
        auto t = tolerance(doc["tolerance"], origin, lines);
        if (!t)
            return t.error();
        c.tolerance = *t;
    }
    const json rules = doc.value("rules", json::array());
    if (!rules.is_array())
        return makeError(ErrorCode::Usage, locate(origin, lines, "/rules") + ": rules must be a list");
    for (size_t i = 0; i < rules.size(); ++i)
        if (auto found = ruleTable(rules[i], i, origin, lines, c.rules); !found)
            return found.error();
    if (c.rules.empty())
        return makeError(ErrorCode::Usage, origin + " lists no rules");
    return c;
}

Result<CheckConfig> parseBudgetJson(const std::string& text, const std::string& origin)
{
    std::string why;
    auto parsed = parseJsonInput(text, &why);
    if (!parsed || !parsed->is_object())
        return makeError(ErrorCode::Usage, origin + " is not a JSON object" + (parsed ? std::string() : " (" + why + ")"),
            "see docs/ci.md for the budget format");
    return budgetFromDocument(*parsed, origin, nullptr);
}

Result<CheckConfig> loadBudget(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    if (!in)
        return makeError(ErrorCode::Io, "cannot open budget " + path);
    std::ostringstream text;
    text << in.rdbuf();
    bool toml = path.size() >= 5 && path.compare(path.size() - 5, 5, ".toml") == 0;
    return toml ? parseBudgetToml(text.str(), path) : parseBudgetJson(text.str(), path);
}

CheckConfig defaultConfig(bool haveBaseline)
{
    CheckConfig c;
    if (haveBaseline) {
        c.rules.push_back(Rule { RuleKind::MaxPeakGrowth, 0.05, "", "", "default" });
        c.rules.push_back(Rule { RuleKind::MaxLeakGrowth, 0.0, "", "", "default" });
    }
    return c;
}
} // namespace tidemark::analysis
