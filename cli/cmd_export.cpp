// `tidemark export`: a recording as a Chrome trace (Perfetto, chrome://tracing), as folded stacks for
// flame-graph tools, or as CSV of every allocation.
#include "analysis/export.h"
#include "cli/command.h"

#include <cstdio>
#include <fstream>
#include <iostream>

namespace {

using namespace tidemark;
using namespace tidemark::analysis;

constexpr const char* kHelp = R"(usage: tidemark export FILE --format chrome|folded|csv [options]

Writes a recording in a format other tools read:
  chrome   Chrome trace JSON for https://ui.perfetto.dev and chrome://tracing: live bytes per
           space as counters (pools also show reserved memory), NVTX ranges per thread, kernels
           and copies per GPU stream on their own tracks, failed allocations as instant events
  folded   'outer;...;inner weight' lines for flamegraph.pl, inferno or speedscope
  csv      one row per allocation lifetime (RFC 4180; times in ns from the recording's start)

options:
  -o, --output FILE           write to FILE (default: stdout)
  --weight peak|leaked|count  folded: bytes live at the peak (default), bytes live at exit
                              (pool-cached memory excluded), or number of allocations
  --space S                   folded and csv: only this space (default: every space)
  -h, --help                  show this help

examples:
  tidemark export run.tmdb --format chrome -o run.trace.json
  tidemark export run.tmdb --format folded --weight leaked --space cuda:0 | flamegraph.pl > leaks.svg
  tidemark export run.tmdb --format csv -o allocations.csv
)";

int run(const std::vector<std::string>& args)
{
    if (cli::wantsHelp(args)) {
        std::fputs(kHelp, stdout);
        return 0;
    }
    std::string input, output, format, weight = "peak", space;
    for (size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        if ((a == "-o" || a == "--output" || a == "--format" || a == "--weight" || a == "--space")
            && i + 1 >= args.size())
            return cli::fail("option " + a + " needs a value", "see 'tidemark export --help'");
        if (a == "-o" || a == "--output")
            output = args[++i];
        else if (a == "--format")
            format = args[++i];
        else if (a == "--weight")
            weight = args[++i];
        else if (a == "--space")
            space = args[++i];
        else if (!a.empty() && a[0] == '-')
            return cli::fail("unknown option '" + a + "'", "see 'tidemark export --help'");
        else if (input.empty())
            input = a;
        else
            return cli::fail("export takes one recording, got '" + input + "' and '" + a + "'");
    }
    if (input.empty())
        return cli::fail("no recording given", "usage: tidemark export FILE --format chrome|folded|csv");
    if (format != "chrome" && format != "folded" && format != "csv")
        return cli::fail(format.empty() ? "no --format given" : "unknown format '" + format + "'",
            "choose --format chrome, folded or csv");
    if (weight != "peak" && weight != "leaked" && weight != "count")
        return cli::fail("--weight must be peak, leaked or count, not '" + weight + "'");
    if (format == "chrome" && !space.empty())
        return cli::fail("--space does not apply to --format chrome (every space becomes a counter track)");
    auto rec = Recording::open(input);
    if (!rec)
        return cli::fail(rec.error());
    int64_t spaceId = 0;
    if (!space.empty()) {
        auto s = rec->findSpace(space);
        if (!s)
            return cli::fail(s.error());
        spaceId = s->id;
    }
    std::ofstream file;
    if (!output.empty()) {
        file.open(output, std::ios::binary | std::ios::trunc);
        if (!file)
            return cli::fail("cannot write " + output);
    }
    std::ostream& out = output.empty() ? std::cout : file;
    Result<ExportStats> stats = ExportStats {};
    if (format == "chrome") {
        stats = exportChrome(*rec, out);
    } else if (format == "folded") {
        TreeWeight w = weight == "leaked" ? TreeWeight::LeakedBytes
            : weight == "count"           ? TreeWeight::AllocationCount
                                          : TreeWeight::PeakBytes;
        stats = exportFolded(*rec, out, w, spaceId);
    } else {
        stats = exportCsv(*rec, out, spaceId);
    }
    if (!stats)
        return cli::fail(stats.error());
    out.flush();
    if (!output.empty()) {
        if (format == "chrome")
            std::fprintf(stderr,
                "tidemark: %s: %lld counters, %lld slices, %lld instant events; open it in https://ui.perfetto.dev\n",
                output.c_str(), static_cast<long long>(stats->counters), static_cast<long long>(stats->slices),
                static_cast<long long>(stats->instants));
        else
            std::fprintf(stderr, "tidemark: %s: %lld %s\n", output.c_str(), static_cast<long long>(stats->lines),
                format == "csv" ? "allocations" : "stacks");
    }
    return cli::kExitOk;
}

tidemark::cli::Registration reg({ "export", "write a Chrome trace (Perfetto), folded stacks or CSV", run, 430, kHelp });

} // namespace
