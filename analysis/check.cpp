// The CI gate's rules: sizes and percentages as people write them, budget files (JSON and a small
// TOML subset parsed here), and the evaluation of each rule on a memory summary, naming the site and
// phase behind every failure, and the four renderings (text, JSON, JUnit XML, Markdown).
#include "analysis/check.h"

#include "analysis/diff.h"
#include "analysis/json_io.h"
#include "analysis/report.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <fstream>
#include <map>
#include <sstream>

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

const char* verdictName(Verdict v)
{
    return v == Verdict::Pass ? "pass" : v == Verdict::Fail ? "fail" : "skip";
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

Result<CheckConfig> parseBudgetJson(const std::string& text, const std::string& origin)
{
    std::string why;
    auto parsed = parseJsonInput(text, &why);
    if (!parsed || !parsed->is_object())
        return makeError(ErrorCode::Usage, origin + " is not a JSON object" + (parsed ? std::string() : " (" + why + ")"),
            "see docs/ci.md for the budget format");
    json doc = std::move(*parsed);
    if (doc.contains("version") && (!doc["version"].is_number_integer() || doc["version"].get<int>() != 1))
        return makeError(ErrorCode::Usage, origin + ": budget version must be 1");
    CheckConfig c;
    if (doc.contains("tolerance")) {
        const json& t = doc["tolerance"];
        if (!t.is_object())
            return makeError(ErrorCode::Usage, origin + ": tolerance must be a table with absolute and relative");
        if (t.contains("absolute")) {
            auto a = parseSize(scalarText(t["absolute"]));
            if (!a)
                return makeError(ErrorCode::Usage, origin + ": tolerance.absolute: " + a.error().message);
            c.tolerance.absoluteBytes = *a;
        }
        if (t.contains("relative")) {
            auto r = parsePercent(scalarText(t["relative"]));
            if (!r)
                return makeError(ErrorCode::Usage, origin + ": tolerance.relative: " + r.error().message);
            c.tolerance.relative = *r;
        }
    }
    const json rules = doc.value("rules", json::array());
    if (!rules.is_array())
        return makeError(ErrorCode::Usage, origin + ": rules must be a list");
    for (size_t i = 0; i < rules.size(); ++i) {
        const json& r = rules[i];
        std::string where = origin + " rule " + std::to_string(i + 1);
        if (!r.is_object())
            return makeError(ErrorCode::Usage, where + " is not a table");
        for (const char* key : { "space", "phase", "name" })
            if (r.contains(key) && !r[key].is_string())
                return makeError(ErrorCode::Usage, where + ": " + key + " must be a string");
        int found = 0;
        for (const auto& [key, value] : r.items()) {
            if (key == "space" || key == "phase" || key == "name")
                continue;
            auto kind = ruleFromName(key);
            if (!kind)
                return makeError(ErrorCode::Usage, where + ": unknown key '" + key + "'",
                    "rule keys: space, phase, max-peak, max-peak-growth, max-leak, max-leak-growth, "
                    "max-growth-per-step");
            auto limit = ruleLimit(*kind, value, where);
            if (!limit)
                return limit.error();
            c.rules.push_back(Rule { *kind, *limit, r.value("space", ""), r.value("phase", ""), where });
            ++found;
        }
        if (found == 0)
            return makeError(ErrorCode::Usage, where + " has no limit (max-peak, max-leak, ...)");
    }
    if (c.rules.empty())
        return makeError(ErrorCode::Usage, origin + " lists no rules");
    return c;
}

namespace {

    // One TOML value of the subset: basic or literal string, integer, float, boolean.
    Result<json> tomlValue(std::string v, const std::string& where)
    {
        if (v.size() >= 2 && v.front() == '"' && v.back() == '"') {
            std::string out;
            for (size_t i = 1; i + 1 < v.size(); ++i) {
                if (v[i] == '\\' && i + 2 < v.size()) {
                    char e = v[++i];
                    out += e == 'n' ? '\n' : e == 't' ? '\t' : e;
                } else {
                    out += v[i];
                }
            }
            return json(out);
        }
        if (v.size() >= 2 && v.front() == '\'' && v.back() == '\'')
            return json(v.substr(1, v.size() - 2));
        if (v == "true" || v == "false")
            return json(v == "true");
        std::string digits = v;
        digits.erase(std::remove(digits.begin(), digits.end(), '_'), digits.end());
        char* end = nullptr;
        long long i = std::strtoll(digits.c_str(), &end, 10);
        if (!digits.empty() && *end == '\0')
            return json(static_cast<int64_t>(i));
        double d = std::strtod(digits.c_str(), &end);
        if (!digits.empty() && *end == '\0')
            return json(d);
        return makeError(ErrorCode::Unsupported,
            where + ": value '" + v + "' is outside the TOML subset tidemark reads",
            "use quoted strings, integers, floats or booleans; arrays and inline tables are not supported (or use "
            "JSON)");
    }

    std::string trim(const std::string& s)
    {
        size_t a = s.find_first_not_of(" \t\r");
        size_t b = s.find_last_not_of(" \t\r");
        return a == std::string::npos ? std::string() : s.substr(a, b - a + 1);
    }

    // Drops a # comment that is not inside a quoted string.
    std::string stripComment(const std::string& line)
    {
        char quote = 0;
        for (size_t i = 0; i < line.size(); ++i) {
            char c = line[i];
            if (quote) {
                if (c == '\\' && quote == '"')
                    ++i;
                else if (c == quote)
                    quote = 0;
            } else if (c == '"' || c == '\'') {
                quote = c;
            } else if (c == '#') {
                return line.substr(0, i);
            }
        }
        return line;
    }

} // namespace

Result<CheckConfig> parseBudgetToml(const std::string& text, const std::string& origin)
{
    json doc = json::object();
    json* table = &doc;
    std::istringstream in(text);
    std::string raw;
    int lineNo = 0;
    while (std::getline(in, raw)) {
        ++lineNo;
        std::string where = origin + ":" + std::to_string(lineNo);
        std::string line = trim(stripComment(raw));
        if (line.empty())
            continue;
        if (line == "[[rules]]" || line == "[[rule]]") {
            doc["rules"].push_back(json::object());
            table = &doc["rules"].back();
        } else if (line == "[tolerance]") {
            doc["tolerance"] = json::object();
            table = &doc["tolerance"];
        } else if (line.front() == '[') {
            return makeError(ErrorCode::Unsupported, where + ": table " + line + " is not part of a tidemark budget",
                "tables: [tolerance] and [[rules]]");
        } else {
            size_t eq = line.find('=');
            if (eq == std::string::npos)
                return makeError(ErrorCode::Usage, where + ": expected 'key = value'");
            std::string key = trim(line.substr(0, eq));
            if (key.size() >= 2 && key.front() == '"' && key.back() == '"')
                key = key.substr(1, key.size() - 2);
            if (key.empty() || key.find_first_of(". ") != std::string::npos)
                return makeError(
                    ErrorCode::Unsupported, where + ": key '" + key + "' is outside the TOML subset (no dotted keys)");
            auto value = tomlValue(trim(line.substr(eq + 1)), where);
            if (!value)
                return value.error();
            if (table->contains(key))
                return makeError(ErrorCode::Usage, where + ": key '" + key + "' defined twice");
            (*table)[key] = *value;
        }
    }
    return parseBudgetJson(dumpJson(doc), origin);
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

// ---- evaluation --------------------------------------------------------------------------------

namespace {

    // The list entry that grew most against the baseline list (by key), or the largest without one.
    const SiteAmount* culprit(const std::vector<SiteAmount>& now, const std::vector<SiteAmount>* before, int64_t& delta)
    {
        const SiteAmount* best = nullptr;
        delta = 0;
        for (const auto& s : now) {
            int64_t d = s.bytes;
            if (before) {
                auto it
                    = std::find_if(before->begin(), before->end(), [&](const SiteAmount& b) { return b.key == s.key; });
                if (it != before->end())
                    d -= it->bytes;
            }
            if (!best || d > delta) {
                best = &s;
                delta = d;
            }
        }
        return best;
    }

    std::string pct(double f)
    {
        char buf[32];
        std::snprintf(buf, sizeof(buf), "%+.1f%%", f * 100.0);
        return buf;
    }

    std::string phaseLabel(const std::string& p)
    {
        return p.empty() ? "(no phase)" : p;
    }

    void measureRule(RuleResult& r, const PhaseMeasures& m, const PhaseMeasures* base, const Tolerance& tol)
    {
        auto slack = [&](double reference) {
            return static_cast<double>(tol.absoluteBytes) + tol.relative * std::fabs(reference);
        };
        int64_t delta = 0;
        const SiteAmount* site = nullptr;
        const SiteAmount* phase = nullptr;
        switch (r.rule.kind) {
        case RuleKind::MaxPeak:
            r.measured = static_cast<double>(m.peakBytes);
            r.allowed = r.limit + slack(r.limit);
            site = culprit(m.peakSites, nullptr, delta);
            phase = culprit(m.peakPhases, nullptr, delta);
            break;
        case RuleKind::MaxPeakGrowth: {
            double b = static_cast<double>(base->peakBytes);
            r.baselineValue = b;
            double allowedBytes = b * (1.0 + r.limit) + slack(b * (1.0 + r.limit));
            r.measured = b > 0 ? static_cast<double>(m.peakBytes) / b - 1.0 : (m.peakBytes > 0 ? 1e9 : 0.0);
            r.allowed = b > 0 ? allowedBytes / b - 1.0 : 1e9;
            if (static_cast<double>(m.peakBytes) > allowedBytes)
                r.allowed = std::min(r.allowed, r.measured - 1e-12); // the byte comparison decides
            site = culprit(m.peakSites, &base->peakSites, delta);
            phase = culprit(m.peakPhases, &base->peakPhases, delta);
            r.measuredText = (b > 0 ? pct(r.measured) : std::string("new")) + " ("
                + humanBytes(static_cast<double>(m.peakBytes)) + " vs " + humanBytes(b) + ")";
            r.limitText = pct(r.limit);
            break;
        }
        case RuleKind::MaxLeak:
            r.measured = static_cast<double>(m.leakedBytes);
            r.allowed = r.limit + slack(r.limit);
            site = culprit(m.leakSites, nullptr, delta);
            break;
        case RuleKind::MaxLeakGrowth:
            r.baselineValue = static_cast<double>(base->leakedBytes);
            r.measured = static_cast<double>(m.leakedBytes - base->leakedBytes);
            r.allowed = r.limit + slack(static_cast<double>(base->leakedBytes));
            site = culprit(m.leakSites, &base->leakSites, delta);
            r.measuredText = (r.measured >= 0 ? "+" : "-") + humanBytes(std::fabs(r.measured)) + " ("
                + humanBytes(static_cast<double>(m.leakedBytes)) + " vs "
                + humanBytes(static_cast<double>(base->leakedBytes)) + ")";
            break;
        case RuleKind::MaxGrowthPerStep:
            if (!m.growthPerStepBytes) {
                r.verdict = Verdict::Skip;
                r.note = "no NVTX step ranges (step/iteration/epoch N): growth per step cannot be measured";
                return;
            }
            r.measured = *m.growthPerStepBytes;
            r.allowed = r.limit + slack(r.limit);
            site = culprit(m.growthSites, nullptr, delta);
            break;
        }
        if (r.measuredText.empty())
            r.measuredText = (r.rule.kind == RuleKind::MaxGrowthPerStep && r.measured < 0 ? "-" : "")
                + humanBytes(std::fabs(r.measured)) + (r.rule.kind == RuleKind::MaxGrowthPerStep ? "/step" : "");
        if (r.limitText.empty())
            r.limitText = humanBytes(r.limit) + (r.rule.kind == RuleKind::MaxGrowthPerStep ? "/step" : "");
        r.verdict = r.measured > r.allowed ? Verdict::Fail : Verdict::Pass;
        if (site) {
            r.culpritSite = site->label;
            r.culpritBytes = site->bytes;
            if (base && (r.rule.kind == RuleKind::MaxPeakGrowth || r.rule.kind == RuleKind::MaxLeakGrowth)) {
                int64_t siteDelta = 0;
                const auto& before = r.rule.kind == RuleKind::MaxPeakGrowth ? base->peakSites : base->leakSites;
                culprit(std::vector<SiteAmount> { *site }, &before, siteDelta);
                r.culpritBytes = siteDelta;
                r.culpritGrowth = true;
            }
            r.culpritPhase = phaseLabel(site->phase.empty() && phase ? phase->key : site->phase);
        } else if (phase) {
            r.culpritPhase = phaseLabel(phase->key);
        }
        if (r.rule.kind == RuleKind::MaxPeak || r.rule.kind == RuleKind::MaxPeakGrowth)
            if (!m.phaseAtPeak.empty())
                r.note = "peak at " + humanDuration(m.peakOffsetNs) + " in " + m.phaseAtPeak;
    }

} // namespace

void evaluateRules(const MemorySummary& run, const MemorySummary* baseline, const CheckConfig& config,
    const std::string& subject, CheckResult& result)
{
    for (const auto& rule : config.rules) {
        bool matched = false;
        for (const auto& sp : run.spaces) {
            if (!rule.space.empty() && sp.space != rule.space && sp.kind != rule.space)
                continue;
            matched = true;
            RuleResult r;
            r.rule = rule;
            r.subject = subject;
            r.space = sp.space;
            r.phase = rule.phase;
            r.limit = rule.limit;
            const PhaseMeasures* m = sp.find(rule.phase);
            const SpaceMeasures* bsp = baseline ? baseline->find(sp.space) : nullptr;
            const PhaseMeasures* b = bsp ? bsp->find(rule.phase) : nullptr;
            bool leakRule = rule.kind == RuleKind::MaxLeak || rule.kind == RuleKind::MaxLeakGrowth;
            if (!m)
                r.note = "phase '" + rule.phase + "' was not measured in this run";
            else if (leakRule && run.cutShort)
                r.note = "the run did not exit cleanly, so memory live at its end is not a leak verdict";
            else if (ruleNeedsBaseline(rule.kind) && !baseline)
                r.note = std::string(ruleName(rule.kind)) + " compares against a baseline; none was given";
            else if (ruleNeedsBaseline(rule.kind) && !bsp)
                r.note = "the baseline has no space " + sp.space;
            else if (ruleNeedsBaseline(rule.kind) && !b)
                r.note = "the baseline has no entry for phase '" + rule.phase + "' (summarize it with --phase)";
            else
                measureRule(r, *m, b, config.tolerance);
            if (!r.note.empty() && r.verdict == Verdict::Skip && r.measuredText.empty())
                r.measuredText = "-";
            result.results.push_back(std::move(r));
        }
        if (!matched) {
            RuleResult r;
            r.rule = rule;
            r.subject = subject;
            r.space = rule.space;
            r.phase = rule.phase;
            r.limit = rule.limit;
            r.measuredText = "-";
            r.note = "no space '" + rule.space + "' with allocations in this run";
            result.results.push_back(std::move(r));
        }
    }
    result.passed = result.failed = result.skipped = 0;
    for (const auto& r : result.results)
        (r.verdict == Verdict::Pass ? result.passed : r.verdict == Verdict::Fail ? result.failed : result.skipped) += 1;
}

// ---- renderings ------------------------------------------------------------------------------

namespace {

    bool manySubjects(const CheckResult& c)
    {
        for (const auto& r : c.results)
            if (r.subject != c.results.front().subject)
                return true;
        return false;
    }

    std::string limitColumn(const RuleResult& r)
    {
        std::string s = r.limitText.empty() ? "-" : r.limitText;
        if (r.rule.kind == RuleKind::MaxLeakGrowth && !r.limitText.empty())
            s = "+" + s;
        return s;
    }

    std::string failureSentence(const RuleResult& r)
    {
        std::string s = std::string(ruleName(r.rule.kind)) + " failed in " + r.space
            + (r.phase.empty() ? "" : " (phase " + r.phase + ")") + ": " + r.measuredText + " exceeds "
            + limitColumn(r);
        if (!r.culpritSite.empty())
            s += "; site " + r.culpritSite + " (" + (r.culpritGrowth ? "+" : "")
                + humanBytes(static_cast<double>(r.culpritBytes)) + (r.culpritGrowth ? " against the baseline)" : ")");
        if (!r.culpritPhase.empty())
            s += "; phase " + r.culpritPhase;
        return s;
    }

    std::string xmlEscape(const std::string& s)
    {
        std::string out;
        for (char c : s) {
            switch (c) {
            case '&':
                out += "&amp;";
                break;
            case '<':
                out += "&lt;";
                break;
            case '>':
                out += "&gt;";
                break;
            case '"':
                out += "&quot;";
                break;
            case '\'':
                out += "&apos;";
                break;
            default:
                if (static_cast<unsigned char>(c) < 0x20 && c != '\n' && c != '\t')
                    out += ' '; // not allowed in XML 1.0
                else
                    out += c;
            }
        }
        return out;
    }

    std::string mdCell(const std::string& s)
    {
        std::string out;
        for (char c : s)
            out += c == '|' ? std::string("\\|") : c == '\n' ? std::string(" ") : std::string(1, c);
        return out;
    }

    std::string headline(const CheckResult& c)
    {
        std::string s
            = c.ok() ? "passed" : std::to_string(c.failed) + (c.failed == 1 ? " rule failed" : " rules failed");
        return s + " (" + std::to_string(c.passed) + " pass, " + std::to_string(c.failed) + " fail, "
            + std::to_string(c.skipped) + " skipped)";
    }

} // namespace

std::string renderCheckText(const CheckResult& c)
{
    bool subjects = manySubjects(c);
    std::vector<std::vector<std::string>> rows;
    rows.push_back({ "verdict", "rule", "run", "space", "phase", "measured", "limit", "responsible" });
    for (const auto& r : c.results) {
        std::string who = r.culpritSite.empty() ? (r.verdict == Verdict::Skip ? r.note : "")
                                                : compactLabel(r.culpritSite, 60) + " in " + r.culpritPhase;
        if (r.verdict != Verdict::Fail && r.verdict != Verdict::Skip)
            who.clear();
        rows.push_back({ r.verdict == Verdict::Fail ? "FAIL" : verdictName(r.verdict), ruleName(r.rule.kind), r.subject,
            r.space.empty() ? "-" : r.space, r.phase.empty() ? "(all)" : r.phase, r.measuredText, limitColumn(r),
            who });
    }
    std::vector<size_t> width(8, 0);
    for (const auto& row : rows)
        for (size_t i = 0; i + 1 < row.size(); ++i)
            width[i] = std::max(width[i], row[i].size());
    std::string what = subjects || c.results.empty() ? std::string() : " " + c.results.front().subject;
    std::string out
        = "tidemark check" + what + ": " + headline(c) + (c.baseline.empty() ? "" : ", baseline " + c.baseline) + "\n";
    for (const auto& row : rows) {
        std::string line = " ";
        for (size_t i = 0; i < row.size(); ++i) {
            if (i == 2 && !subjects)
                continue;
            line += " " + row[i] + (i + 1 < row.size() ? std::string(width[i] - row[i].size(), ' ') : "");
        }
        while (!line.empty() && line.back() == ' ')
            line.pop_back();
        out += line + "\n";
    }
    for (const auto& r : c.results)
        if (r.verdict == Verdict::Fail)
            out += (subjects ? r.subject + ": " : std::string()) + failureSentence(r)
                + (r.note.empty() ? "" : " (" + r.note + ")") + "\n";
    return out;
}

std::string renderCheckJson(const CheckResult& c, int indent)
{
    json results = json::array();
    for (const auto& r : c.results) {
        json o { { "rule", ruleName(r.rule.kind) }, { "run", r.subject }, { "space", r.space }, { "phase", r.phase },
            { "verdict", verdictName(r.verdict) }, { "limit", r.limit }, { "origin", r.rule.origin } };
        if (r.verdict != Verdict::Skip) {
            o["measured"] = r.measured;
            o["allowed"] = r.allowed;
            o["measured_text"] = r.measuredText;
            o["limit_text"] = limitColumn(r);
        }
        if (r.baselineValue)
            o["baseline"] = *r.baselineValue;
        if (!r.culpritSite.empty())
            o["site"] = { { "label", r.culpritSite }, { r.culpritGrowth ? "growth_bytes" : "bytes", r.culpritBytes } };
        if (!r.culpritPhase.empty())
            o["culprit_phase"] = r.culpritPhase;
        if (!r.note.empty())
            o["note"] = r.note;
        results.push_back(std::move(o));
    }
    json doc { { "format", "tidemark-check" }, { "version", 1 }, { "ok", c.ok() }, { "passed", c.passed },
        { "failed", c.failed }, { "skipped", c.skipped }, { "baseline", c.baseline },
        { "results", std::move(results) } };
    return dumpJson(doc, indent) + "\n";
}

std::string renderCheckJUnit(const CheckResult& c)
{
    // One <testsuite> per run (a file, or a rank), one <testcase> per rule and space.
    std::vector<std::string> subjects;
    for (const auto& r : c.results)
        if (std::find(subjects.begin(), subjects.end(), r.subject) == subjects.end())
            subjects.push_back(r.subject);
    char time[32];
    std::snprintf(time, sizeof(time), "%.3f", c.seconds);
    std::string out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
    out += "<testsuites name=\"tidemark check\" tests=\"" + std::to_string(c.results.size()) + "\" failures=\""
        + std::to_string(c.failed) + "\" errors=\"0\" skipped=\"" + std::to_string(c.skipped) + "\" time=\"" + time
        + "\">\n";
    for (const auto& subject : subjects) {
        int tests = 0, failures = 0, skipped = 0;
        for (const auto& r : c.results)
            if (r.subject == subject) {
                ++tests;
                failures += r.verdict == Verdict::Fail;
                skipped += r.verdict == Verdict::Skip;
            }
        out += "  <testsuite name=\"" + xmlEscape("tidemark check " + subject) + "\" tests=\"" + std::to_string(tests)
            + "\" failures=\"" + std::to_string(failures) + "\" errors=\"0\" skipped=\"" + std::to_string(skipped)
            + "\" time=\"" + time + "\">\n";
        for (const auto& r : c.results) {
            if (r.subject != subject)
                continue;
            std::string name = ruleName(r.rule.kind) + std::string(r.phase.empty() ? "" : " phase " + r.phase);
            out += "    <testcase classname=\"" + xmlEscape("tidemark.check." + (r.space.empty() ? "all" : r.space))
                + "\" name=\"" + xmlEscape(name) + "\" time=\"0\">\n";
            if (r.verdict == Verdict::Fail) {
                std::string text = failureSentence(r) + "\nmeasured: " + r.measuredText + "\nlimit: " + limitColumn(r)
                    + "\nrule from: " + r.rule.origin + (r.note.empty() ? "" : "\n" + r.note);
                out += "      <failure message=\"" + xmlEscape(failureSentence(r)) + "\" type=\""
                    + ruleName(r.rule.kind) + "\">" + xmlEscape(text) + "</failure>\n";
            } else if (r.verdict == Verdict::Skip) {
                out += "      <skipped message=\"" + xmlEscape(r.note) + "\"/>\n";
            } else {
                out += "      <system-out>" + xmlEscape(r.measuredText + " within " + limitColumn(r))
                    + "</system-out>\n";
            }
            out += "    </testcase>\n";
        }
        out += "  </testsuite>\n";
    }
    out += "</testsuites>\n";
    return out;
}

std::string renderCheckMarkdown(const CheckResult& c)
{
    bool subjects = manySubjects(c);
    std::string out = std::string("### ") + (c.ok() ? "✅" : "❌") + " tidemark memory check " + headline(c) + "\n\n";
    if (!subjects && !c.results.empty())
        out += "Run: `" + c.results.front().subject + "`"
            + (c.baseline.empty() ? "" : ", baseline: `" + c.baseline + "`") + "\n\n";
    else if (!c.baseline.empty())
        out += "Baseline: `" + c.baseline + "`\n\n";
    out += std::string("| | rule |") + (subjects ? " run |" : "")
        + " space | phase | measured | limit | responsible |\n";
    out += std::string("|---|---|") + (subjects ? "---|" : "") + "---|---|---:|---:|---|\n";
    for (const auto& r : c.results) {
        std::string icon = r.verdict == Verdict::Pass ? "✅" : r.verdict == Verdict::Fail ? "❌" : "⏭️";
        std::string who = r.verdict == Verdict::Fail && !r.culpritSite.empty()
            ? "`" + r.culpritSite + "` in " + r.culpritPhase
            : (r.verdict == Verdict::Skip ? r.note : "");
        out += "| " + icon + " | " + ruleName(r.rule.kind) + " |" + (subjects ? " " + mdCell(r.subject) + " |" : "")
            + " " + mdCell(r.space) + " | " + mdCell(r.phase.empty() ? "(all)" : r.phase) + " | "
            + mdCell(r.measuredText) + " | " + mdCell(limitColumn(r)) + " | " + mdCell(who) + " |\n";
    }
    return out;
}

} // namespace tidemark::analysis
