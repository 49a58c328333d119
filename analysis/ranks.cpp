// Per-rank peaks and the imbalance between ranks of a distributed run, and the multi-file report.
// A data-parallel job is only as big as its biggest rank, so the table leads with who peaks highest.
#include "analysis/ranks.h"
#include "analysis/json_io.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <map>
#include <set>

namespace tidemark::analysis {

using nlohmann::json;

std::vector<int64_t> rankNumbers(const std::vector<MemorySummary>& ranks)
{
    std::vector<int64_t> out;
    std::set<int64_t> seen;
    bool usable = true;
    for (const auto& r : ranks) {
        if (!r.rank || !seen.insert(*r.rank).second)
            usable = false;
        out.push_back(r.rank.value_or(0));
    }
    if (!usable)
        for (size_t i = 0; i < out.size(); ++i)
            out[i] = static_cast<int64_t>(i);
    return out;
}

RankTable rankTable(const std::vector<MemorySummary>& ranks)
{
    RankTable t;
    std::vector<int64_t> numbers = rankNumbers(ranks);
    std::vector<std::string> spaces;
    for (const auto& r : ranks)
        for (const auto& sp : r.spaces)
            if (std::find(spaces.begin(), spaces.end(), sp.space) == spaces.end())
                spaces.push_back(sp.space);
    for (const auto& space : spaces) {
        std::vector<RankRow> rows;
        for (size_t i = 0; i < ranks.size(); ++i) {
            const SpaceMeasures* sp = ranks[i].find(space);
            const PhaseMeasures* m = sp ? sp->find("") : nullptr;
            RankRow row;
            row.rank = numbers[i];
            row.rankRecorded = ranks[i].rank.has_value();
            row.file = ranks[i].source;
            row.host = ranks[i].host;
            row.space = space;
            if (m) {
                row.peakBytes = m->peakBytes;
                row.leakedBytes = m->leakedBytes;
                row.peakOffsetNs = m->peakOffsetNs;
                row.phaseAtPeak = m->phaseAtPeak;
            }
            rows.push_back(row);
        }
        std::sort(rows.begin(), rows.end(), [](const RankRow& a, const RankRow& b) { return a.rank < b.rank; });
        RankImbalance im;
        im.space = space;
        im.ranks = static_cast<int>(rows.size());
        int64_t sum = 0;
        for (size_t i = 0; i < rows.size(); ++i) {
            const auto& r = rows[i];
            sum += r.peakBytes;
            if (i == 0 || r.peakBytes > im.maxBytes) {
                im.maxBytes = r.peakBytes;
                im.highestRank = r.rank;
            }
            if (i == 0 || r.peakBytes < im.minBytes) {
                im.minBytes = r.peakBytes;
                im.lowestRank = r.rank;
            }
        }
        im.meanBytes = rows.empty() ? 0 : sum / static_cast<int64_t>(rows.size());
        im.maxMinusMean = im.maxBytes - im.meanBytes;
        im.maxOverMin = im.minBytes > 0 ? static_cast<double>(im.maxBytes) / static_cast<double>(im.minBytes) : 0.0;
        t.imbalance.push_back(im);
        t.rows.insert(t.rows.end(), rows.begin(), rows.end());
    }
    return t;
}

namespace {

    std::string ratio(double r)
    {
        if (r <= 0)
            return "-";
        char buf[32];
        std::snprintf(buf, sizeof(buf), "%.3fx", r);
        return buf;
    }

    std::string imbalanceSentence(const RankImbalance& im)
    {
        if (im.maxBytes == im.minBytes)
            return im.space + ": all " + std::to_string(im.ranks) + " ranks peak at "
                + humanBytes(static_cast<double>(im.maxBytes));
        return im.space + ": rank " + std::to_string(im.highestRank) + " peaks highest at "
            + humanBytes(static_cast<double>(im.maxBytes)) + ", rank " + std::to_string(im.lowestRank) + " lowest at "
            + humanBytes(static_cast<double>(im.minBytes)) + "; max/min " + ratio(im.maxOverMin) + ", max - mean "
            + humanBytes(static_cast<double>(im.maxMinusMean));
    }

} // namespace

std::string renderRanksText(const RankTable& t)
{
    std::vector<std::vector<std::string>> rows { { "space", "rank", "host", "peak", "leaked", "peak at", "file" } };
    for (const auto& r : t.rows)
        rows.push_back({ r.space, std::to_string(r.rank) + (r.rankRecorded ? "" : "*"), r.host.empty() ? "-" : r.host,
            humanBytes(static_cast<double>(r.peakBytes)), humanBytes(static_cast<double>(r.leakedBytes)),
            humanDuration(r.peakOffsetNs) + (r.phaseAtPeak.empty() ? "" : " in " + r.phaseAtPeak), r.file });
    std::vector<size_t> width(7, 0);
    for (const auto& row : rows)
        for (size_t i = 0; i < row.size(); ++i)
            width[i] = std::max(width[i], row[i].size());
    std::string out
        = "per-rank peaks (" + std::to_string(t.imbalance.empty() ? 0 : t.imbalance.front().ranks) + " ranks)\n";
    for (const auto& row : rows) {
        std::string line = " ";
        for (size_t i = 0; i < row.size(); ++i)
            line += " " + row[i] + (i + 1 < row.size() ? std::string(width[i] - row[i].size(), ' ') : "");
        out += line + "\n";
    }
    bool guessed = std::any_of(t.rows.begin(), t.rows.end(), [](const RankRow& r) { return !r.rankRecorded; });
    if (guessed)
        out += "  * no launcher rank recorded: rank is the file's position\n";
    out += "imbalance\n";
    for (const auto& im : t.imbalance)
        out += "  " + imbalanceSentence(im) + "\n";
    return out;
}

std::string renderRanksMarkdown(const RankTable& t)
{
    std::string out = "| space | rank | host | peak | leaked | peak at |\n|---|---:|---|---:|---:|---|\n";
    for (const auto& r : t.rows)
        out += "| " + r.space + " | " + std::to_string(r.rank) + " | " + r.host + " | "
            + humanBytes(static_cast<double>(r.peakBytes)) + " | " + humanBytes(static_cast<double>(r.leakedBytes))
            + " | " + humanDuration(r.peakOffsetNs) + (r.phaseAtPeak.empty() ? "" : " in " + r.phaseAtPeak) + " |\n";
    out += "\n";
    for (const auto& im : t.imbalance)
        out += "- " + imbalanceSentence(im) + "\n";
    return out;
}

json ranksJson(const RankTable& t)
{
    json rows = json::array(), imb = json::array();
    for (const auto& r : t.rows)
        rows.push_back(
            { { "space", r.space }, { "rank", r.rank }, { "rank_recorded", r.rankRecorded }, { "host", r.host },
                { "file", r.file }, { "peak_bytes", r.peakBytes }, { "leaked_bytes", r.leakedBytes },
                { "peak_offset_ns", r.peakOffsetNs }, { "phase_at_peak", r.phaseAtPeak } });
    for (const auto& im : t.imbalance)
        imb.push_back({ { "space", im.space }, { "ranks", im.ranks }, { "max_bytes", im.maxBytes },
            { "min_bytes", im.minBytes }, { "mean_bytes", im.meanBytes }, { "max_over_min", im.maxOverMin },
            { "max_minus_mean_bytes", im.maxMinusMean }, { "highest_rank", im.highestRank },
            { "lowest_rank", im.lowestRank } });
    return json { { "ranks", std::move(rows) }, { "imbalance", std::move(imb) } };
}

std::string renderRanksJson(const RankTable& t, int indent)
{
    return dumpJson(ranksJson(t), indent) + "\n";
}

Result<std::string> renderMultiRankReport(
    const std::vector<std::string>& paths, const ReportOptions& options, const std::string& format)
{
    std::vector<MemorySummary> summaries;
    std::vector<Report> reports;
    for (const auto& path : paths) {
        auto rec = Recording::open(path);
        if (!rec)
            return rec.error();
        SummarizeOptions so;
        so.space = options.space;
        so.phasesAtPeak = false;
        so.top = 5;
        auto s = summarize(*rec, so);
        if (!s)
            return s.error();
        summaries.push_back(std::move(*s));
        auto r = buildReport(*rec, options);
        if (!r)
            return r.error();
        reports.push_back(std::move(*r));
    }
    RankTable table = rankTable(summaries);
    std::vector<int64_t> numbers = rankNumbers(summaries);
    if (format == "json") {
        json doc = ranksJson(table);
        doc["format"] = "tidemark-multi-rank-report";
        doc["version"] = 1;
        doc["reports"] = json::array();
        for (size_t i = 0; i < reports.size(); ++i)
            doc["reports"].push_back({ { "rank", numbers[i] }, { "file", paths[i] },
                { "report", reportJson(reports[i]) } });
        return dumpJson(doc, 2) + "\n";
    }
    bool md = format == "markdown";
    std::string out = md
        ? "## tidemark report: " + std::to_string(paths.size()) + " ranks\n\n" + renderRanksMarkdown(table)
        : renderRanksText(table);
    for (size_t i = 0; i < reports.size(); ++i) {
        out += md ? "\n### rank " + std::to_string(numbers[i]) + " (`" + paths[i] + "`)\n\n"
                  : "\nrank " + std::to_string(numbers[i]) + " (" + paths[i] + ")\n";
        for (const auto& h : reports[i].headlines)
            out += (md ? "- " : "  ") + h + "\n";
    }
    return out;
}

} // namespace tidemark::analysis
