// `tidemark import`: converts a PyTorch memory snapshot, a Kineto / Chrome trace or an Nsight Systems
// SQLite export into a tidemark recording, with progress on stderr for large inputs.
#include "analysis/import/import.h"
#include "cli/command.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>

namespace {

using tidemark::cli::fail;
namespace imp = tidemark::import;

constexpr uintmax_t kProgressThresholdBytes = 8u << 20;

const char* const kHelp =
        "usage: tidemark import INPUT -o OUT.tmdb [--format auto|torch-snapshot|kineto|nsys] [--quiet]\n"
        "\n"
        "Turns a recording made by another tool into a tidemark recording, so report, check, diff and the\n"
        "GUI work on it. The format is detected from the file's content:\n"
        "  torch-snapshot  torch.cuda.memory._dump_snapshot() / memory_snapshot() pickles (read by a\n"
        "                  restricted reader that refuses any Python object, never executed)\n"
        "  kineto          PyTorch profiler / Chrome trace JSON, .json.gz, or a .tar(.gz) of per-rank traces\n"
        "  nsys            Nsight Systems SQLite exports (nsys export --type sqlite report.nsys-rep)\n"
        "\n"
        "options:\n"
        "  -o, --output FILE   the recording to write; an existing file is kept unless --force\n"
        "  --force             replace the output when it exists\n"
        "  --format NAME       skip detection and read INPUT as NAME\n"
        "  -q, --quiet         no progress or summary\n"
        "  -h, --help          show this help\n"
        "\n"
        "Exit codes: 0 imported; 2 usage error, or input that is truncated, damaged, of another format or\n"
        "refused (e.g. a pickle that references Python code). See docs/import.md for what each importer\n"
        "reads and what it cannot know.\n";

// Prints "tidemark: import: <stage> NN%" at most every 10% per stage, and never more than 4 times a second.
struct ProgressPrinter {
    std::string stage;
    int lastDecile = -1;
    std::chrono::steady_clock::time_point last {};

    void operator()(std::string_view s, double fraction)
    {
        int decile = static_cast<int>(fraction * 10.0);
        auto now = std::chrono::steady_clock::now();
        bool newStage = s != stage;
        if (!newStage && decile == lastDecile)
            return;
        if (!newStage && fraction < 1.0 && now - last < std::chrono::milliseconds(250))
            return;
        stage = std::string(s);
        lastDecile = decile;
        last = now;
        std::fprintf(stderr, "tidemark: import: %s %3d%%\n", stage.c_str(), static_cast<int>(fraction * 100.0));
    }
};

int run(const std::vector<std::string>& args)
{
    if (tidemark::cli::wantsHelp(args)) {
        std::fputs(kHelp, stdout);
        return 0;
    }
    std::string input, output;
    imp::ImportOptions options;
    bool quiet = false, force = false;
    for (size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (a == "-o" || a == "--output") {
            if (i + 1 >= args.size())
                return fail("-o needs a file name", "tidemark import INPUT -o OUT.tmdb");
            output = args[++i];
        } else if (a.starts_with("--output=")) {
            output = a.substr(9);
        } else if (a == "--format" || a.starts_with("--format=")) {
            std::string name = a == "--format" ? (i + 1 < args.size() ? args[++i] : "") : a.substr(9);
            auto f = imp::parseFormat(name);
            if (!f)
                return fail("unknown format '" + name + "'", "use one of auto, torch-snapshot, kineto, nsys");
            options.format = *f;
        } else if (a == "-q" || a == "--quiet") {
            quiet = true;
        } else if (a == "--force") {
            force = true;
        } else if (a.starts_with("-") && a != "-") {
            return fail("unknown option " + a, "see tidemark import --help");
        } else if (input.empty()) {
            input = a;
        } else {
            return fail("more than one input: " + input + " and " + a, "import one file at a time (per-rank traces: pack them in a .tar.gz)");
        }
    }
    if (input.empty() || output.empty())
        return fail("tidemark import needs INPUT and -o OUT.tmdb", "see tidemark import --help");
    if (!force && tidemark::cli::outputTaken(output, "import"))
        return tidemark::cli::kExitUsage;
    std::error_code ec;
    uintmax_t size = std::filesystem::file_size(input, ec);
    if (ec)
        return fail("cannot read " + input + ": " + ec.message());
    ProgressPrinter printer;
    if (!quiet && size >= kProgressThresholdBytes)
        options.progress = [&printer](std::string_view stage, double f) { printer(stage, f); };
    auto result = imp::importFile(input, output, options);
    if (!result)
        return fail(result.error());
    if (!quiet) {
        const auto& s = *result;
        std::fprintf(stderr,
            "tidemark: imported %s (%s): %lld processes, %lld allocations (%lld freed), %lld kernels, %lld ranges, "
            "%lld failed allocations -> %s\n",
            input.c_str(), std::string(imp::formatName(s.format)).c_str(), static_cast<long long>(s.processes),
            static_cast<long long>(s.allocations), static_cast<long long>(s.frees), static_cast<long long>(s.kernels),
            static_cast<long long>(s.ranges), static_cast<long long>(s.failedAllocations), output.c_str());
    }
    return tidemark::cli::kExitOk;
}

tidemark::cli::Registration reg({ "import", "convert a PyTorch snapshot, Kineto trace or Nsight Systems export", run, 150, kHelp });

} // namespace
