// Two runs side by side (`tidemark diff A B`): peak, leaks and growth per step of each space, broken
// down by call site and by phase, sorted by absolute change, with totals; and rank-by-rank diffs of two
// groups of per-rank recordings.
#pragma once

#include "analysis/baseline.h"
#include "analysis/ranks.h"

#include <optional>
#include <string>
#include <vector>

namespace tidemark::analysis {

struct DiffRow {
    std::string key;
    std::string label;
    std::string phase; // sites: the phase most of its bytes came from (B's, else A's)
    double a = 0;
    double b = 0;
    double delta() const { return b - a; }
};

struct DiffTable {
    std::string title; // "peak by site", ...
    std::string unit; // "bytes" or "bytes/step"
    std::vector<DiffRow> rows; // by |delta|, largest first; rows equal in A and B are dropped
    double totalA = 0; // the space's own measure (not the sum of rows, which may be cut to the top N)
    double totalB = 0;
    int unchanged = 0; // rows dropped because A == B
};

struct SpaceDiff {
    std::string space;
    bool inA = false;
    bool inB = false;
    int64_t peakA = 0, peakB = 0;
    int64_t leakedA = 0, leakedB = 0;
    int64_t liveAtEndA = 0, liveAtEndB = 0;
    std::optional<double> growthA, growthB; // bytes per step
    std::vector<DiffTable> tables; // peak by site, peak by phase, leaks by site, growth by site
};

struct Diff {
    std::string a; // sources
    std::string b;
    std::vector<SpaceDiff> spaces;
};

// A site label that fits a terminal column: C++ parameter lists become "(...)" before anything else is
// cut, so "function (file:line)" keeps its line number.
std::string compactLabel(const std::string& label, size_t maxChars = 90);

// space: only this space name (or kind); empty = every space in A or B.
Diff diffSummaries(const MemorySummary& a, const MemorySummary& b, const std::string& space = {});

std::string renderDiffText(const Diff& diff, int top = 10);
std::string renderDiffMarkdown(const Diff& diff, int top = 10);
std::string renderDiffJson(const Diff& diff, int indent = 2);

// Per-rank comparison of two groups (paired by rank): each rank's peak in A and B and the imbalance
// of each group.
struct RankDiff {
    RankTable a;
    RankTable b;
    std::vector<Diff> pairs; // one per rank, in rank order
    std::vector<int64_t> ranks;
};
Result<RankDiff> diffRanks(
    const std::vector<MemorySummary>& a, const std::vector<MemorySummary>& b, const std::string& space);
std::string renderRankDiffText(const RankDiff& diff, int top = 10);
std::string renderRankDiffMarkdown(const RankDiff& diff, int top = 10);
std::string renderRankDiffJson(const RankDiff& diff, int indent = 2);

} // namespace tidemark::analysis
