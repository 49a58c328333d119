// Memory summaries: the few numbers the CI gate compares (peak, leaks, growth per step, with the sites
// and phases behind them) taken from a recording, written as a small versioned JSON baseline that a
// repository can commit instead of a big .tmdb, read back, and aggregated over repeated runs.
#pragma once

#include "analysis/recording.h"
#include "analysis/types.h"
#include "trace/result.h"

#include <optional>
#include <string>
#include <vector>

namespace tidemark::analysis {

// Version of the baseline JSON (docs/ci.md); bumped only on incompatible changes.
constexpr int kBaselineVersion = 1;
constexpr const char* kBaselineFormat = "tidemark-baseline";

// One site (or phase) with its share of a measure. key groups identical code locations across runs.
struct SiteAmount {
    std::string key;
    std::string label;
    std::string phase; // the phase most of its bytes were allocated in
    int64_t bytes = 0;
    int64_t count = 0;
    double bytesPerStep = 0.0; // growth sites
};

// The measures of one space, restricted to one phase ("" = the whole space). With a phase, every
// measure counts only allocations made in that phase: its bytes live at the space's peak, its leaks,
// and its growth per step.
struct PhaseMeasures {
    std::string phase;
    int64_t peakBytes = 0;
    TimeNs peakOffsetNs = 0; // from the start of the recording
    std::string phaseAtPeak; // innermost phase open at the peak
    int64_t leakedBytes = 0; // sites classified as leaks (repeated over the run)
    int64_t leakedCount = 0;
    int64_t liveAtEndBytes = 0; // everything live at exit except pool-cached memory
    std::optional<double> growthPerStepBytes; // unset without NVTX step ranges
    int64_t steps = 0;
    std::vector<SiteAmount> peakSites; // live at the peak, by site, largest first
    std::vector<SiteAmount> peakPhases; // live at the peak, by phase (key = phase path)
    std::vector<SiteAmount> leakSites; // leaks only, largest first
    std::vector<SiteAmount> growthSites;
};

struct SpaceMeasures {
    std::string space; // host, cuda:0, pool:cuda:0, ...
    std::string kind;
    std::vector<PhaseMeasures> phases; // phases[0] is the whole space (phase "")
    const PhaseMeasures* find(const std::string& phase) const;
};

struct MemorySummary {
    int version = kBaselineVersion;
    std::string source; // the recording(s) it was taken from
    std::string program;
    std::string commandLine;
    std::optional<int64_t> rank; // launcher rank of the first process, when recorded
    std::string host;
    TimeNs durationNs = 0;
    bool cutShort = false;
    int runs = 1; // recordings aggregated into this summary
    std::string aggregate; // "" (one run), "median" or "max"
    std::vector<SpaceMeasures> spaces;
    const SpaceMeasures* find(const std::string& space) const;
};

struct SummarizeOptions {
    std::string space; // one space (name or kind); empty = every space with allocations
    std::vector<std::string> phases; // extra phase entries to measure besides the whole space
    bool phasesAtPeak = true; // also measure the largest phases live at each peak
    int top = 20; // sites kept per list (0 = all)
};

// Measures a recording. O(n) per space and per phase entry.
Result<MemorySummary> summarize(Recording& rec, const SummarizeOptions& options);

std::string summaryToJson(const MemorySummary& summary, int indent = 2);
// origin names the input in error messages. Errors: Corrupt (not a baseline), NewerSchema (newer version).
Result<MemorySummary> summaryFromJson(const std::string& text, const std::string& origin);

// A recording (.tmdb) or a JSON baseline, told apart by the file's first bytes.
Result<MemorySummary> loadSummary(const std::string& path, const SummarizeOptions& options);

enum class Aggregate { Median, Max };
const char* aggregateName(Aggregate a);

// Flake control: combines repeated runs of the same job measure by measure (median or max); site lists
// come from the run whose peak is the aggregate. Entries missing in some runs aggregate over the rest.
Result<MemorySummary> aggregateSummaries(const std::vector<MemorySummary>& runs, Aggregate how);

} // namespace tidemark::analysis
