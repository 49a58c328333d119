// `tidemark diff`: two runs side by side — peak, leaks and growth per step by call site and by phase,
// sorted by absolute change, with totals — or two groups of per-rank recordings paired by rank.
#include "analysis/diff.h"
#include "cli/command.h"

#include <cstdio>

namespace {

using namespace tidemark;
using namespace tidemark::analysis;

constexpr const char* kHelp = R"(usage: tidemark diff A B [options]
       tidemark diff A0 A1 ... -- B0 B1 ... [options]

Shows two runs side by side: for each space the peak, the leaked bytes and the growth per
training step, then what changed by call site and by phase, largest absolute change first,
with the totals. A and B are recordings (.tmdb) or JSON summaries ('tidemark summarize').
With '--' between two groups of per-rank recordings, ranks are paired (by recorded launcher
rank, else by position) and each pair is compared, after the per-rank peaks of both groups.

options:
  --space S                    only this space (cuda:0, host, pool:cuda:0, or a kind like device)
  --format text|json|markdown  output form (default text)
  --top N                      changed rows shown per table (default 10; 0 = all)
  -h, --help                   show this help

examples:
  tidemark diff main.tmdb branch.tmdb
  tidemark diff ci/baseline.json run.tmdb --space cuda:0 --format markdown
  tidemark diff before.0.tmdb before.1.tmdb -- after.0.tmdb after.1.tmdb
)";

int run(const std::vector<std::string>& args)
{
    if (cli::wantsHelp(args)) {
        std::fputs(kHelp, stdout);
        return 0;
    }
    std::vector<std::string> groupA, groupB;
    bool split = false;
    std::string space, format = "text";
    int top = 10;
    for (size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        if ((a == "--space" || a == "--format" || a == "--top") && i + 1 >= args.size())
            return cli::fail("option " + a + " needs a value", "see 'tidemark diff --help'");
        if (a == "--") {
            if (split)
                return cli::fail("'--' given twice", "usage: tidemark diff A0 A1 ... -- B0 B1 ...");
            split = true;
        } else if (a == "--space") {
            space = args[++i];
        } else if (a == "--format") {
            format = args[++i];
            if (format != "text" && format != "json" && format != "markdown")
                return cli::fail("--format must be text, json or markdown, not '" + format + "'");
        } else if (a == "--top") {
            char* end = nullptr;
            long n = std::strtol(args[++i].c_str(), &end, 10);
            if (args[i].empty() || *end || n < 0)
                return cli::fail("--top must be a number >= 0, not '" + args[i] + "'");
            top = static_cast<int>(n);
        } else if (!a.empty() && a[0] == '-') {
            return cli::fail("unknown option '" + a + "'", "see 'tidemark diff --help'");
        } else {
            (split ? groupB : groupA).push_back(a);
        }
    }
    if (!split && groupA.size() == 2) {
        groupB.push_back(groupA.back());
        groupA.pop_back();
    }
    if (groupA.empty() || groupB.empty() || (!split && groupA.size() != 1))
        return cli::fail("diff needs two runs, or two groups of ranks separated by '--'",
            "usage: tidemark diff A B   or   tidemark diff A0 A1 -- B0 B1");
    SummarizeOptions so;
    so.space = space;
    so.phasesAtPeak = false;
    so.top = 0; // every site, so rows outside a top-N list do not look like changes
    auto load = [&](const std::vector<std::string>& paths, std::vector<MemorySummary>& out) -> int {
        for (const auto& p : paths) {
            auto s = loadSummary(p, so);
            if (!s)
                return cli::fail(s.error());
            out.push_back(std::move(*s));
        }
        return -1;
    };
    std::vector<MemorySummary> a, b;
    if (int rc = load(groupA, a); rc >= 0)
        return rc;
    if (int rc = load(groupB, b); rc >= 0)
        return rc;
    std::string out;
    if (a.size() == 1 && b.size() == 1) {
        Diff d = diffSummaries(a[0], b[0], space);
        out = format == "json"     ? renderDiffJson(d)
            : format == "markdown" ? renderDiffMarkdown(d, top)
                                   : renderDiffText(d, top);
    } else {
        auto d = diffRanks(a, b, space);
        if (!d)
            return cli::fail(d.error());
        out = format == "json"     ? renderRankDiffJson(*d)
            : format == "markdown" ? renderRankDiffMarkdown(*d, top)
                                   : renderRankDiffText(*d, top);
    }
    std::fputs(out.c_str(), stdout);
    return cli::kExitOk;
}

tidemark::cli::Registration reg({ "diff", "compare two runs (or two groups of ranks) by site and phase", run, 420, kHelp });

} // namespace
