// `tidemark report FILE`: what made the peak, what leaks or grows, churn, fragmentation, failed
// allocations and capture coverage, as text (terminal), Markdown or the JSON of docs/report-json.md;
// sites named in the user's terms (--skip-frames adds plumbing, --stacks shows the whole stack).
#include "analysis/analysis.h"
#include "analysis/ranks.h"
#include "analysis/site_names.h"
#include "cli/command.h"

#include <cstdio>
#include <string>

namespace {

using tidemark::analysis::ReportOptions;

const char* kUsage = "usage: tidemark report FILE... [--format text|json|markdown] [--space S] [--phase P] [--top N]\n"
                     "                       [--skip-frames REGEX]... [--stacks] [--coverage] [--full]\n"
                     "\n"
                     "Summarizes a recording: program, duration and counts; at most 5 headlines; the peak of\n"
                     "every memory space with what was live then by call site, NVTX phase and API; memory live\n"
                     "at the end (leaks, kept once, retained by start-up) and growth step after step; temporary\n"
                     "allocations; fragmentation inside pools; why each failed allocation failed. What capture\n"
                     "saw and missed is shown when data was lost, or with --coverage.\n"
                     "\n"
                     "A call site is named after the first frame, from the allocation outward, that is the\n"
                     "program's own code: allocator entry points (malloc, operator new, strdup, ...), allocator\n"
                     "internals (c10's, CPython's, std:: containers'), frames in libc, libstdc++, ld.so and\n"
                     "tidemark are walked past, and library layers (std::, CPython, PyTorch's C++) unless\n"
                     "nothing else is left.\n"
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
                     "  --top N      rows per table (default 5 in text and markdown, 10 in json)\n"
                     "  --skip-frames REGEX\n"
                     "               also walk past frames whose function name matches REGEX (ECMAScript,\n"
                     "               searched anywhere in the demangled name; 'module:REGEX' matches the\n"
                     "               module's file name instead), e.g. --skip-frames '^mylib::pool::'.\n"
                     "               May be given several times.\n"
                     "  --stacks     print the full stack of each headline's site, innermost first: function,\n"
                     "               module, file:line when known, and which frames were walked past\n"
                     "  --coverage   print the capture-coverage table even when nothing was lost\n"
                     "  --full       everything: every finding as a headline, 10 rows per table, the tables by\n"
                     "               API and by name, start-up rows, the capture-coverage table\n"
                     "  -h, --help   show this help\n"
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
    std::vector<std::string> skipFrames;
    for (size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        std::string name = a;
        std::string inlineValue;
        bool hasInline = false;
        if (auto eq = a.find('='); a.rfind("--", 0) == 0 && eq != std::string::npos) {
            name = a.substr(0, eq);
            inlineValue = a.substr(eq + 1);
            hasInline = true;
        }
        if (name == "--format" || name == "--space" || name == "--phase" || name == "--top" || name == "--skip-frames") {
            if (!hasInline && i + 1 >= args.size())
                return tidemark::cli::fail(name + " needs a value", "see: tidemark report --help");
            const std::string v = hasInline ? inlineValue : args[++i];
            if (name == "--format")
                format = v;
            else if (name == "--space")
                options.space = v;
            else if (name == "--phase")
                options.phase = v;
            else if (name == "--skip-frames")
                skipFrames.push_back(v);
            else {
                try {
                    size_t used = 0;
                    options.top = std::stoi(v, &used);
                    if (used != v.size() || options.top <= 0)
                        throw std::invalid_argument("top");
                    options.textRows = options.top;
                } catch (...) {
                    return tidemark::cli::fail("--top needs a positive number, not '" + v + "'");
                }
            }
        } else if (a == "--stacks") {
            options.stacks = true;
        } else if (a == "--coverage") {
            options.coverage = true;
        } else if (a == "--full") {
            options.coverage = true;
            options.maxHeadlines = 0;
            options.full = true;
        } else if (!a.empty() && a[0] == '-') {
            return tidemark::cli::fail("unknown option " + a, "see: tidemark report --help");
        } else {
            files.push_back(a);
        }
    }
    if (auto st = tidemark::analysis::setSkipFramePatterns(skipFrames); !st)
        return tidemark::cli::fail(st.error());
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

tidemark::cli::Registration reg({ "report", "summarize a recording: peak, leaks, growth, churn, fragmentation, OOMs", run, 200, kUsage });

} // namespace
