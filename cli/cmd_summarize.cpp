// `tidemark summarize`: writes the small, versioned JSON summary of a recording that `check --baseline`
// and `diff` accept in place of the recording, so a repository commits kilobytes instead of a .tmdb.
#include "analysis/baseline.h"
#include "cli/command.h"

#include <cstdio>
#include <fstream>

namespace {

using namespace tidemark;

constexpr const char* kHelp = R"(usage: tidemark summarize FILE [options]

Measures a recording (peak, leaks and growth per step of every space, with the sites and phases
behind them) and prints the versioned JSON baseline that 'tidemark check --baseline' and
'tidemark diff' read in place of the recording (format: docs/ci.md).

options:
  -o, --output FILE   write the summary to FILE instead of stdout
  --space S           only this space (name like cuda:0 or host, or a kind like device)
  --phase P           also measure phase P on its own (repeatable); the largest phases at each
                      peak are measured anyway
  --top N             sites kept per list (default 20; 0 = all)
  -h, --help          show this help

example:
  tidemark summarize main.tmdb -o ci/baseline.json
  tidemark check run.tmdb --baseline ci/baseline.json --max-peak-growth 5%
)";

int run(const std::vector<std::string>& args)
{
    if (cli::wantsHelp(args)) {
        std::fputs(kHelp, stdout);
        return 0;
    }
    std::string input, output;
    analysis::SummarizeOptions options;
    for (size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        bool hasValue = i + 1 < args.size();
        if ((a == "-o" || a == "--output" || a == "--space" || a == "--phase" || a == "--top") && !hasValue)
            return cli::fail("option " + a + " needs a value", "see 'tidemark summarize --help'");
        if (a == "-o" || a == "--output") {
            output = args[++i];
        } else if (a == "--space") {
            options.space = args[++i];
        } else if (a == "--phase") {
            options.phases.push_back(args[++i]);
        } else if (a == "--top") {
            char* end = nullptr;
            long n = std::strtol(args[++i].c_str(), &end, 10);
            if (args[i].empty() || *end || n < 0 || n > 100000)
                return cli::fail("--top must be a number from 0 to 100000, not '" + args[i] + "'");
            options.top = static_cast<int>(n);
        } else if (!a.empty() && a[0] == '-') {
            return cli::fail("unknown option '" + a + "'", "see 'tidemark summarize --help'");
        } else if (input.empty()) {
            input = a;
        } else {
            return cli::fail("summarize takes one recording, got '" + input + "' and '" + a + "'",
                "for repeated runs use 'tidemark check --repeat' or summarize each file");
        }
    }
    if (input.empty())
        return cli::fail("no recording given", "usage: tidemark summarize FILE [-o baseline.json]");
    auto rec = analysis::Recording::open(input);
    if (!rec)
        return cli::fail(rec.error());
    auto summary = analysis::summarize(*rec, options);
    if (!summary)
        return cli::fail(summary.error());
    std::string text = analysis::summaryToJson(*summary);
    if (output.empty()) {
        std::fputs(text.c_str(), stdout);
        return 0;
    }
    std::ofstream out(output, std::ios::binary | std::ios::trunc);
    if (!(out << text) || !(out.flush()))
        return cli::fail("cannot write " + output);
    std::fprintf(
        stderr, "tidemark: summary of %s written to %s (%zu bytes)\n", input.c_str(), output.c_str(), text.size());
    return 0;
}

tidemark::cli::Registration reg({ "summarize", "write a small JSON summary of a recording (a CI baseline)", run, 410, kHelp });

} // namespace
