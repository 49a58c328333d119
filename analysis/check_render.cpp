// The CI gate's verdicts rendered four ways: a text table, a JSON value (the --json document), JUnit XML
// and Markdown for a pull request. Each works from the CheckResult alone.
#include "analysis/check_render.h"

#include "analysis/diff.h"
#include "analysis/json_io.h"
#include "analysis/report.h"

#include <algorithm>
#include <cstdio>

namespace tidemark::analysis {

using nlohmann::json;

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

json checkJson(const CheckResult& c)
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
    return json { { "format", "tidemark-check" }, { "version", 1 }, { "ok", c.ok() }, { "passed", c.passed },
        { "failed", c.failed }, { "skipped", c.skipped }, { "baseline", c.baseline },
        { "results", std::move(results) } };
}

std::string renderCheckJson(const CheckResult& c, int indent)
{
    return dumpJson(checkJson(c), indent) + "\n";
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
