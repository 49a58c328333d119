// Many ranks: the per-rank peaks of a distributed run (one recording per rank, `record -o run.%r.tmdb`)
// and the imbalance between ranks (max/min, max - mean, the rank that peaks highest), for `report`,
// `check` and `diff` given several files.
#pragma once

#include "analysis/baseline.h"
#include "analysis/report.h"
#include "trace/result.h"

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace tidemark::analysis {

struct RankRow {
    int64_t rank = 0; // the recorded launcher rank, else the file's position
    bool rankRecorded = false;
    std::string file;
    std::string host;
    std::string space;
    int64_t peakBytes = 0;
    int64_t leakedBytes = 0;
    TimeNs peakOffsetNs = 0;
    std::string phaseAtPeak;
};

struct RankImbalance {
    std::string space;
    int ranks = 0;
    int64_t maxBytes = 0;
    int64_t minBytes = 0;
    int64_t meanBytes = 0;
    double maxOverMin = 0.0; // 0 when the smallest peak is 0
    int64_t maxMinusMean = 0;
    int64_t highestRank = 0; // the rank that peaks highest (lowest rank on ties)
    int64_t lowestRank = 0;
};

struct RankTable {
    std::vector<RankRow> rows; // by space, then rank
    std::vector<RankImbalance> imbalance; // one per space present in at least one rank
};

// One summary per rank, in the order the files were given.
RankTable rankTable(const std::vector<MemorySummary>& ranks);
// Ranks from the recorded launcher rank; duplicates or missing ranks fall back to file order.
std::vector<int64_t> rankNumbers(const std::vector<MemorySummary>& ranks);

std::string renderRanksText(const RankTable& table);
std::string renderRanksMarkdown(const RankTable& table);
// {"ranks": [...], "imbalance": [...]}: the value --json documents embed.
nlohmann::json ranksJson(const RankTable& table);
std::string renderRanksJson(const RankTable& table, int indent = 2); // ranksJson as text, with a newline

// `tidemark report A B ...`: the per-rank table and imbalance, then each rank's headlines.
// format: text | markdown | json.
Result<std::string> renderMultiRankReport(
    const std::vector<std::string>& paths, const ReportOptions& options, const std::string& format);

} // namespace tidemark::analysis
