// The whole report of one recording (what `tidemark report` prints and what CI summaries and the GUI
// summary page show), assembled from the queries, and its three renderings: text for a terminal,
// Markdown for a pull request, and the stable JSON documented in docs/report-json.md.
#pragma once

#include "analysis/queries.h"
#include "analysis/recording.h"
#include "analysis/site_names.h"
#include "analysis/types.h"
#include "trace/result.h"

#include <nlohmann/json.hpp>

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
    int maxHeadlines = 5; // the most important findings first; <= 0: every finding
    bool coverage = false; // the capture-coverage table even when nothing was lost
    bool stacks = false;   // the full stack of every headline site (headlineStacks)
    // Text and Markdown: unless full, at most textRows rows per table, the by-API and by-name tables,
    // the start-up rows, the sites of stable growth and the pinning blocks left out, each finding on
    // one line, so the report fits on a screen or two. JSON always has everything.
    bool full = false;
    int textRows = 5;
};

// Memory live at the end that start-up allocated: static initializers, the loader, the interpreter's
// initialization and module imports (by stack), or anything allocated before the first NVTX range of
// its process. Held to exit by design, so reported apart and never called a leak.
struct StartupRetention {
    int64_t bytes = 0;
    int64_t count = 0;
    std::vector<LeakSite> sites; // by bytes; isLeak is false
};

// Moves the start-up part of every site of leaks (built with top = 0, all sites) into out and
// corrects the leaked and retained totals; sites left empty are dropped. Then both lists are cut to top.
Status separateStartupRetention(Recording& rec, const Filter& filter, Leaks& leaks, StartupRetention& out, int top);

// Capture counters that mean data was lost (records dropped, stacks cut at the depth limit, a
// truncated spool, bad records), with a value above zero.
std::vector<CoverageItem> captureLosses(const Coverage& coverage);

// The stack of one headline's site, as `report --stacks` prints it.
struct HeadlineStack {
    size_t headline = 0; // index into Report::headlines
    std::string space;
    Site site;
    std::vector<SiteFrame> frames; // innermost first
};

struct SpaceReport {
    SpaceSummary summary;
    Peak peak;
    Leaks leaks;
    Growth growth;
    Churn churn;
    std::optional<Fragmentation> fragmentation; // pool spaces
    StartupRetention startup;                   // live at the end, from start-up (not in leaks)
};

struct Report {
    ReportOptions options;
    Summary summary;
    std::vector<SpaceReport> spaces;
    std::vector<OomEvent> ooms;
    Coverage coverage;
    std::vector<std::string> headlines; // the few sentences worth reading first (at most maxHeadlines)
    int64_t moreFindings = 0;           // findings left out of headlines by maxHeadlines
    std::vector<CoverageItem> losses;   // captureLosses(coverage)
    std::vector<HeadlineStack> headlineStacks; // with options.stacks
    bool showCoverage() const { return options.coverage || !losses.empty(); }
};

Result<Report> buildReport(Recording& rec, const ReportOptions& options);

std::string renderText(const Report& report);
std::string renderMarkdown(const Report& report);
// The stable JSON report (docs/report-json.md) as a value, for documents that embed it, and as text.
nlohmann::json reportJson(const Report& report);
std::string renderJson(const Report& report, int indent = 2);

// Human sizes and times used by every rendering ("1.5 GiB", "12.40 s").
std::string humanBytes(double bytes);
std::string humanDuration(TimeNs ns);

} // namespace tidemark::analysis
