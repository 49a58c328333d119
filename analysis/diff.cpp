// Side-by-side comparison of two memory summaries, by site and by phase, and of two groups of ranks.
// Rows match by grouping key, so the same code location lines up across builds even when its stack
// (and callsite ids) differ.
#include "analysis/diff.h"
#include "analysis/json_io.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <map>

namespace tidemark::analysis {

using nlohmann::json;

namespace {

    DiffTable table(const std::string& title, const std::string& unit, const std::vector<SiteAmount>* a,
        const std::vector<SiteAmount>* b, bool perStep, double totalA, double totalB)
    {
        DiffTable t { title, unit, {}, totalA, totalB, 0 };
        std::map<std::string, DiffRow> rows;
        auto add = [&](const std::vector<SiteAmount>* list, bool isB) {
            if (!list)
                return;
            for (const auto& s : *list) {
                auto& r = rows[s.key];
                r.key = s.key;
                if (r.label.empty() || isB)
                    r.label = s.label.empty() ? (s.key.empty() ? "(no phase)" : s.key) : s.label;
                if (!s.phase.empty() && (r.phase.empty() || isB))
                    r.phase = s.phase;
                (isB ? r.b : r.a) += perStep ? s.bytesPerStep : static_cast<double>(s.bytes);
            }
        };
        add(a, false);
        add(b, true);
        for (auto& [key, r] : rows) {
            if (r.a == r.b)
                ++t.unchanged;
            else
                t.rows.push_back(r);
        }
        std::sort(t.rows.begin(), t.rows.end(), [](const DiffRow& x, const DiffRow& y) {
            double dx = std::fabs(x.delta()), dy = std::fabs(y.delta());
            return dx != dy ? dx > dy : x.key < y.key;
        });
        return t;
    }

} // namespace

std::string compactLabel(const std::string& label, size_t maxChars)
{
    if (label.size() <= maxChars)
        return label;
    std::string out = label;
    size_t where = out.rfind(" (");
    size_t open = out.find('(');
    if (open != std::string::npos && open < where) {
        int depth = 0;
        for (size_t i = open; i < where; ++i) {
            depth += out[i] == '(' ? 1 : out[i] == ')' ? -1 : 0;
            if (depth == 0) {
                out = out.substr(0, open) + "(...)" + out.substr(i + 1);
                break;
            }
        }
    }
    if (out.size() > maxChars)
        out = "..." + out.substr(out.size() - (maxChars - 3));
    return out;
}

Diff diffSummaries(const MemorySummary& a, const MemorySummary& b, const std::string& space)
{
    Diff d { a.source, b.source, {} };
    std::vector<std::string> names;
    for (const auto* s : { &a, &b })
        for (const auto& sp : s->spaces)
            if ((space.empty() || sp.space == space || sp.kind == space)
                && std::find(names.begin(), names.end(), sp.space) == names.end())
                names.push_back(sp.space);
    for (const auto& name : names) {
        const SpaceMeasures* sa = a.find(name);
        const SpaceMeasures* sb = b.find(name);
        const PhaseMeasures* ma = sa ? sa->find("") : nullptr;
        const PhaseMeasures* mb = sb ? sb->find("") : nullptr;
        SpaceDiff sd;
        sd.space = name;
        sd.inA = ma != nullptr;
        sd.inB = mb != nullptr;
        if (ma) {
            sd.peakA = ma->peakBytes;
            sd.leakedA = ma->leakedBytes;
            sd.liveAtEndA = ma->liveAtEndBytes;
            sd.growthA = ma->growthPerStepBytes;
        }
        if (mb) {
            sd.peakB = mb->peakBytes;
            sd.leakedB = mb->leakedBytes;
            sd.liveAtEndB = mb->liveAtEndBytes;
            sd.growthB = mb->growthPerStepBytes;
        }
        auto list = [](const PhaseMeasures* m, std::vector<SiteAmount> PhaseMeasures::*field) {
            return m ? &(m->*field) : nullptr;
        };
        sd.tables.push_back(table("peak by site", "bytes", list(ma, &PhaseMeasures::peakSites),
            list(mb, &PhaseMeasures::peakSites), false, static_cast<double>(sd.peakA), static_cast<double>(sd.peakB)));
        sd.tables.push_back(table("peak by phase", "bytes", list(ma, &PhaseMeasures::peakPhases),
            list(mb, &PhaseMeasures::peakPhases), false, static_cast<double>(sd.peakA), static_cast<double>(sd.peakB)));
        sd.tables.push_back(
            table("leaks by site", "bytes", list(ma, &PhaseMeasures::leakSites), list(mb, &PhaseMeasures::leakSites),
                false, static_cast<double>(sd.leakedA), static_cast<double>(sd.leakedB)));
        sd.tables.push_back(table("growth by site", "bytes/step", list(ma, &PhaseMeasures::growthSites),
            list(mb, &PhaseMeasures::growthSites), true, sd.growthA.value_or(0), sd.growthB.value_or(0)));
        d.spaces.push_back(std::move(sd));
    }
    return d;
}

namespace {

    std::string signedBytes(double v)
    {
        if (v == 0)
            return "0 B";
        return (v > 0 ? "+" : "-") + humanBytes(std::fabs(v));
    }

    std::string change(double a, double b)
    {
        std::string s = signedBytes(b - a);
        if (a > 0 && b != a && std::fabs(b - a) < 10 * a) {
            char buf[32];
            std::snprintf(buf, sizeof(buf), " (%+.1f%%)", (b - a) / a * 100.0);
            s += buf;
        }
        return s;
    }

    std::string growthText(const std::optional<double>& g)
    {
        if (!g)
            return "n/a";
        return (*g < 0 ? "-" : "") + humanBytes(std::fabs(*g)) + "/step";
    }

    std::string headerLine(const SpaceDiff& s)
    {
        std::string presence = s.inA && s.inB ? "" : s.inA ? " (only in A)" : " (only in B)";
        return s.space + presence + ": peak " + humanBytes(static_cast<double>(s.peakA)) + " -> "
            + humanBytes(static_cast<double>(s.peakB)) + " "
            + change(static_cast<double>(s.peakA), static_cast<double>(s.peakB)) + "; leaked "
            + humanBytes(static_cast<double>(s.leakedA)) + " -> " + humanBytes(static_cast<double>(s.leakedB)) + " "
            + change(static_cast<double>(s.leakedA), static_cast<double>(s.leakedB)) + "; growth "
            + growthText(s.growthA) + " -> " + growthText(s.growthB);
    }

    std::string cellValue(const DiffTable& t, double v)
    {
        return t.unit == "bytes/step" ? growthText(v) : humanBytes(v);
    }

} // namespace

std::string renderDiffText(const Diff& d, int top)
{
    std::string out = "tidemark diff: A = " + d.a + ", B = " + d.b + "\n";
    for (const auto& s : d.spaces) {
        out += "\n" + headerLine(s) + "\n";
        for (const auto& t : s.tables) {
            if (t.rows.empty() && t.totalA == t.totalB)
                continue;
            std::vector<std::vector<std::string>> rows { { t.title, "A", "B", "change" } };
            for (size_t i = 0; i < t.rows.size() && (top <= 0 || i < static_cast<size_t>(top)); ++i) {
                const auto& r = t.rows[i];
                rows.push_back(
                    { compactLabel(r.label, 70) + (r.phase.empty() ? "" : " [" + r.phase + "]"), cellValue(t, r.a),
                        cellValue(t, r.b), t.unit == "bytes/step" ? growthText(r.delta()) : change(r.a, r.b) });
            }
            rows.push_back({ "total", cellValue(t, t.totalA), cellValue(t, t.totalB),
                t.unit == "bytes/step" ? growthText(t.totalB - t.totalA) : change(t.totalA, t.totalB) });
            std::vector<size_t> w(4, 0);
            for (const auto& row : rows)
                for (size_t i = 0; i < 4; ++i)
                    w[i] = std::max(w[i], std::min<size_t>(row[i].size(), i == 0 ? 90 : 40));
            for (const auto& row : rows) {
                std::string first = row[0].size() > 90 ? row[0].substr(0, 87) + "..." : row[0];
                out += "  " + first + std::string(w[0] - first.size() + 2, ' ');
                for (size_t i = 1; i < 4; ++i)
                    out += std::string(w[i] > row[i].size() ? w[i] - row[i].size() : 0, ' ') + row[i] + "  ";
                while (out.back() == ' ')
                    out.pop_back();
                out += "\n";
            }
            size_t hidden = top > 0 && t.rows.size() > static_cast<size_t>(top) ? t.rows.size() - top : 0;
            if (hidden || t.unchanged)
                out += "  (" + std::to_string(hidden) + " more changed, " + std::to_string(t.unchanged)
                    + " unchanged)\n";
        }
    }
    return out;
}

std::string renderDiffMarkdown(const Diff& d, int top)
{
    std::string out = "### tidemark diff\n\nA = `" + d.a + "`, B = `" + d.b + "`\n";
    for (const auto& s : d.spaces) {
        out += "\n#### " + s.space + "\n\n| measure | A | B | change |\n|---|---:|---:|---:|\n";
        out += "| peak | " + humanBytes(static_cast<double>(s.peakA)) + " | " + humanBytes(static_cast<double>(s.peakB))
            + " | " + change(static_cast<double>(s.peakA), static_cast<double>(s.peakB)) + " |\n";
        out += "| leaked | " + humanBytes(static_cast<double>(s.leakedA)) + " | "
            + humanBytes(static_cast<double>(s.leakedB)) + " | "
            + change(static_cast<double>(s.leakedA), static_cast<double>(s.leakedB)) + " |\n";
        out += "| growth | " + growthText(s.growthA) + " | " + growthText(s.growthB) + " | |\n";
        for (const auto& t : s.tables) {
            if (t.rows.empty())
                continue;
            out += "\n| " + t.title + " | A | B | change |\n|---|---:|---:|---:|\n";
            for (size_t i = 0; i < t.rows.size() && (top <= 0 || i < static_cast<size_t>(top)); ++i) {
                const auto& r = t.rows[i];
                std::string label = r.label;
                std::replace(label.begin(), label.end(), '|', '/');
                out += "| `" + label + "`" + (r.phase.empty() ? "" : " (" + r.phase + ")") + " | " + cellValue(t, r.a)
                    + " | " + cellValue(t, r.b) + " | "
                    + (t.unit == "bytes/step" ? growthText(r.delta()) : change(r.a, r.b)) + " |\n";
            }
        }
    }
    return out;
}

namespace {
    json diffJson(const Diff& d)
    {
        json spaces = json::array();
        for (const auto& s : d.spaces) {
            json tables = json::array();
            for (const auto& t : s.tables) {
                json rows = json::array();
                for (const auto& r : t.rows)
                    rows.push_back({ { "key", r.key }, { "label", r.label }, { "phase", r.phase }, { "a", r.a },
                        { "b", r.b }, { "delta", r.delta() } });
                tables.push_back({ { "title", t.title }, { "unit", t.unit }, { "total_a", t.totalA },
                    { "total_b", t.totalB }, { "unchanged", t.unchanged }, { "rows", std::move(rows) } });
            }
            auto opt = [](const std::optional<double>& v) { return v ? json(*v) : json(nullptr); };
            spaces.push_back({ { "space", s.space }, { "in_a", s.inA }, { "in_b", s.inB }, { "peak_bytes_a", s.peakA },
                { "peak_bytes_b", s.peakB }, { "leaked_bytes_a", s.leakedA }, { "leaked_bytes_b", s.leakedB },
                { "live_at_end_bytes_a", s.liveAtEndA }, { "live_at_end_bytes_b", s.liveAtEndB },
                { "growth_per_step_bytes_a", opt(s.growthA) }, { "growth_per_step_bytes_b", opt(s.growthB) },
                { "tables", std::move(tables) } });
        }
        return json { { "format", "tidemark-diff" }, { "version", 1 }, { "a", d.a }, { "b", d.b },
            { "spaces", std::move(spaces) } };
    }
} // namespace

std::string renderDiffJson(const Diff& d, int indent)
{
    return dumpJson(diffJson(d), indent) + "\n";
}

Result<RankDiff> diffRanks(
    const std::vector<MemorySummary>& a, const std::vector<MemorySummary>& b, const std::string& space)
{
    if (a.size() != b.size())
        return makeError(ErrorCode::Usage,
            "the two groups have " + std::to_string(a.size()) + " and " + std::to_string(b.size()) + " ranks",
            "give the same number of files on each side of '--'");
    RankDiff d { rankTable(a), rankTable(b), {}, rankNumbers(a) };
    std::vector<int64_t> rb = rankNumbers(b);
    std::vector<size_t> order(a.size());
    for (size_t i = 0; i < a.size(); ++i)
        order[i] = i;
    std::sort(order.begin(), order.end(), [&](size_t x, size_t y) { return d.ranks[x] < d.ranks[y]; });
    std::vector<int64_t> sortedRanks;
    for (size_t i : order) {
        auto j = std::find(rb.begin(), rb.end(), d.ranks[i]);
        if (j == rb.end())
            return makeError(ErrorCode::Usage, "rank " + std::to_string(d.ranks[i]) + " of A has no recording in B");
        d.pairs.push_back(diffSummaries(a[i], b[static_cast<size_t>(j - rb.begin())], space));
        sortedRanks.push_back(d.ranks[i]);
    }
    d.ranks = sortedRanks;
    return d;
}

std::string renderRankDiffText(const RankDiff& d, int top)
{
    std::string out = "A:\n" + renderRanksText(d.a) + "\nB:\n" + renderRanksText(d.b);
    for (size_t i = 0; i < d.pairs.size(); ++i)
        out += "\n== rank " + std::to_string(d.ranks[i]) + " ==\n" + renderDiffText(d.pairs[i], top);
    return out;
}

std::string renderRankDiffMarkdown(const RankDiff& d, int top)
{
    std::string out
        = "#### A per rank\n\n" + renderRanksMarkdown(d.a) + "\n#### B per rank\n\n" + renderRanksMarkdown(d.b);
    for (size_t i = 0; i < d.pairs.size(); ++i)
        out += "\n## rank " + std::to_string(d.ranks[i]) + "\n\n" + renderDiffMarkdown(d.pairs[i], top);
    return out;
}

std::string renderRankDiffJson(const RankDiff& d, int indent)
{
    json pairs = json::array();
    for (size_t i = 0; i < d.pairs.size(); ++i)
        pairs.push_back({ { "rank", d.ranks[i] }, { "diff", diffJson(d.pairs[i]) } });
    json doc { { "format", "tidemark-rank-diff" }, { "version", 1 }, { "a", ranksJson(d.a) }, { "b", ranksJson(d.b) },
        { "pairs", std::move(pairs) } };
    return dumpJson(doc, indent) + "\n";
}

} // namespace tidemark::analysis
