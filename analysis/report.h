// The whole report of one recording (what `tidemark report` prints and what CI summaries and the GUI
// summary page show), assembled from the queries, and its three renderings: text for a terminal,
// Markdown for a pull request, and the stable JSON documented in docs/report-json.md.
#pragma once

#include "analysis/queries.h"
#include "analysis/recording.h"
#include "analysis/types.h"
#include "trace/result.h"

#include <optional>
#include <string>
#include <vector>

namespace tidemark::analysis {

// Version of the JSON document (docs/report-json.md); bumped only on incompatible changes.
constexpr int kReportJsonVersion = 1;

struct ReportOptions {
    std::string space; // limit to one space (name or kind); empty = every space with allocations
    std::string phase; // phaseMatches() filter for breakdowns, leaks, growth and churn
    int top = 10;      // rows per table
};

struct SpaceReport {
    SpaceSummary summary;
    Peak peak;
    Leaks leaks;
    Growth growth;
    Churn churn;
    std::optional<Fragmentation> fragmentation; // pool spaces
};

struct Report {
    ReportOptions options;
    Summary summary;
    std::vector<SpaceReport> spaces;
    std::vector<OomEvent> ooms;
    Coverage coverage;
    std::vector<std::string> headlines; // the few sentences worth reading first
};

Result<Report> buildReport(Recording& rec, const ReportOptions& options);

std::string renderText(const Report& report);
std::string renderMarkdown(const Report& report);
std::string renderJson(const Report& report, int indent = 2);

// Human sizes and times used by every rendering ("1.5 GiB", "12.40 s").
std::string humanBytes(double bytes);
std::string humanDuration(TimeNs ns);

} // namespace tidemark::analysis
