// `tidemark report FILE`: what made the peak, what leaks or grows, churn, fragmentation, failed
// allocations and capture coverage, as text (terminal), Markdown or the JSON of docs/report-json.md.
#include "analysis/analysis.h"
#include "analysis/ranks.h"
#include "cli/command.h"

#include <cstdio>
#include <string>

namespace {

using tidemark::analysis::ReportOptions;

const char* kUsage = "usage: tidemark report FILE... [--format text|json|markdown] [--space S] [--phase P] [--top N]\n"
                     "\n"
                     "Summarizes a recording: program, duration and counts; the peak of every memory space with\n"
                     "what was live then by call site, NVTX phase and API; memory live at the end (leaks) and\n"
                     "growth step after step; temporary allocations; fragmentation inside pools; why each failed\n"
                     "allocation failed; what capture saw and missed.\n"
                     "\n"
                     "Several files (one per rank of a distributed run, e.g. run.*.tmdb) give the per-rank peaks,\n"
                     "the imbalance between ranks, then each rank's headlines.\n"
                     "\n"
                     "options:\n"
                     "  --format F   text (default, for a terminal), markdown (for a pull request) or json\n"
                     "               (stable, documented in docs/report-json.md)\n"
                     "  --space S    only this memory space: a name (host, cuda:0, pool:cuda:0) or a unique kind\n"
                     "  --phase P    only allocations made in NVTX phase P: a path such as step/forward, a prefix\n"
                     "               of one, or a single phase name such as forward\n"
                     "  --top N      rows per table (default 10)\n"
                     "\n"
                     "Exit codes: 0 ok, 2 usage error or unreadable recording.\n";

int run(const std::vector<std::string>& args)
{
    if (tidemark::cli::wantsHelp(args)) {
        std::fputs(kUsage, stdout);
        return tidemark::cli::kExitOk;
    }
    ReportOptions options;
    std::string format = "text";
    std::vector<std::string> files;
    for (size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        auto value = [&](const char* name) -> const std::string* {
            if (i + 1 >= args.size())
                return nullptr;
            (void)name;
            return &args[++i];
        };
        if (a == "--format" || a == "--space" || a == "--phase" || a == "--top") {
            const std::string* v = value(a.c_str());
            if (!v)
                return tidemark::cli::fail(a + " needs a value", "see: tidemark report --help");
            if (a == "--format")
                format = *v;
            else if (a == "--space")
                options.space = *v;
            else if (a == "--phase")
                options.phase = *v;
            else {
                try {
                    size_t used = 0;
                    options.top = std::stoi(*v, &used);
                    if (used != v->size() || options.top <= 0)
                        throw std::invalid_argument("top");
                } catch (...) {
                    return tidemark::cli::fail("--top needs a positive number, not '" + *v + "'");
                }
            }
        } else if (a.rfind("--format=", 0) == 0) {
            format = a.substr(9);
        } else if (!a.empty() && a[0] == '-') {
            return tidemark::cli::fail("unknown option " + a, "see: tidemark report --help");
        } else {
            files.push_back(a);
        }
    }
    if (files.empty())
        return tidemark::cli::fail("report needs a recording", "usage: tidemark report FILE [--format text|json|markdown]");
    if (format != "text" && format != "json" && format != "markdown" && format != "md")
        return tidemark::cli::fail("unknown format '" + format + "'", "use text, json or markdown");
    if (format == "md")
        format = "markdown";
    if (files.size() > 1) {
        auto text = tidemark::analysis::renderMultiRankReport(files, options, format);
        if (!text)
            return tidemark::cli::fail(text.error());
        std::fwrite(text->data(), 1, text->size(), stdout);
        return tidemark::cli::kExitOk;
    }
    auto rec = tidemark::analysis::Recording::open(files.front());
    if (!rec)
        return tidemark::cli::fail(rec.error());
    auto report = tidemark::analysis::buildReport(*rec, options);
    if (!report)
        return tidemark::cli::fail(report.error());
    std::string out;
    if (format == "json")
        out = tidemark::analysis::renderJson(*report);
    else if (format == "text")
        out = tidemark::analysis::renderText(*report);
    else
        out = tidemark::analysis::renderMarkdown(*report);
    std::fwrite(out.data(), 1, out.size(), stdout);
    return tidemark::cli::kExitOk;
}

tidemark::cli::Registration reg({ "report", "summarize a recording: peak, leaks, growth, churn, fragmentation, OOMs", run, 200 });

} // namespace
