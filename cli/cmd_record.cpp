// `tidemark record`: runs a program under the capture library, then turns its spool into a
// recording (ingest, symbolization, finalization, meta) and exits with the program's own status.
#include "cli/command.h"
#include "cli/support_record.h"
#include "analysis/report.h"
#include "collector/ingest.h"
#include "collector/record_session.h"
#include "trace/meta_keys.h"
#include "trace/recording.h"

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <optional>
#include <sys/wait.h>
#include <unistd.h>

namespace {

using namespace tidemark;
namespace fs = std::filesystem;

constexpr const char* kHelp = R"(usage: tidemark record [options] [--] PROGRAM [ARGS...]

Runs PROGRAM with tidemark's capture library and writes every host and device allocation
(with call stack and NVTX phase), GPU kernels and copies into one recording file.
tidemark exits with PROGRAM's own exit code (128 + signal when it was killed).

options:
  -o, --output FILE    recording to write (default tidemark.<program>.<pid>.tmdb);
                       %p = pid, %h = host name, %r = rank (RANK, OMPI_COMM_WORLD_RANK,
                       PMI_RANK or SLURM_PROCID; 0 when none), %% = %
  --stack-depth N      frames per call stack, 0..256 (default 64; 0 = no stacks)
  --unwind cfi|fp|libunwind
                       stack walker: cfi (default) reads the modules' DWARF unwind tables and is
                       right on code built without frame pointers; fp follows the frame-pointer
                       chain (wrong frames where it is missing); libunwind is a slower reference
  --no-host            do not record host heap allocations (malloc family)
  --no-cupti           do not use CUPTI (device allocations then come from the runtime hooks)
  --no-nvtx            do not record NVTX ranges, marks and memory-extension pools
  --no-torch           do not hook PyTorch in Python programs (by default a sitecustomize
                       on PYTHONPATH turns nn.Module forwards, the backward pass and the
                       optimizer into phases and each optimizer step into a step)
  --no-follow-fork     do not record forked child processes
  --keep-spool         keep the raw spool directory and print where it is
  --force              replace the output when it exists (without it, an existing file is
                       never replaced: record refuses before running the program)
  -h, --help           show this help

example:
  tidemark record -o run.tmdb -- ./train --epochs 1
  tidemark report run.tmdb
)";

struct Options {
    std::string output;
    int stack_depth = -1;
    std::string unwind;
    bool host = true, cupti = true, nvtx = true, torch = true, follow_fork = true, keep_spool = false, force = false;
    std::vector<std::string> argv;
};

int parse(const std::vector<std::string>& args, Options& o)
{
    for (size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        auto value = [&](const char* name) -> const std::string* {
            if (i + 1 >= args.size()) {
                cli::fail(std::string("option ") + name + " needs a value", "see 'tidemark record --help'");
                return nullptr;
            }
            return &args[++i];
        };
        if (a == "--") {
            o.argv.assign(args.begin() + i + 1, args.end());
            break;
        }
        if (a.empty() || a[0] != '-') {
            o.argv.assign(args.begin() + i, args.end());
            break;
        }
        if (a == "-h" || a == "--help") { // only before PROGRAM: after it, the option is the program's
            std::fputs(kHelp, stdout);
            return 0;
        }
        if (a == "-o" || a == "--output") {
            auto v = value("-o");
            if (!v)
                return cli::kExitUsage;
            o.output = *v;
        } else if (a.rfind("--output=", 0) == 0) {
            o.output = a.substr(9);
        } else if (a == "--stack-depth") {
            auto v = value("--stack-depth");
            if (!v)
                return cli::kExitUsage;
            char* end = nullptr;
            long n = std::strtol(v->c_str(), &end, 10);
            if (v->empty() || *end || n < 0 || n > 256)
                return cli::fail("--stack-depth must be a number from 0 to 256, not '" + *v + "'");
            o.stack_depth = static_cast<int>(n);
        } else if (a == "--unwind") {
            auto v = value("--unwind");
            if (!v)
                return cli::kExitUsage;
            if (*v != "cfi" && *v != "fp" && *v != "libunwind" && *v != "dwarf")
                return cli::fail("--unwind must be 'cfi', 'fp' or 'libunwind', not '" + *v + "'");
            o.unwind = *v;
        } else if (a == "--no-host") {
            o.host = false;
        } else if (a == "--no-cupti") {
            o.cupti = false;
        } else if (a == "--no-nvtx") {
            o.nvtx = false;
        } else if (a == "--no-torch") {
            o.torch = false;
        } else if (a == "--no-follow-fork") {
            o.follow_fork = false;
        } else if (a == "--keep-spool") {
            o.keep_spool = true;
        } else if (a == "--force") {
            o.force = true;
        } else {
            return cli::fail("unknown option '" + a + "'", "see 'tidemark record --help'");
        }
    }
    if (o.argv.empty())
        return cli::fail("no program to record", "usage: tidemark record [options] -- PROGRAM [ARGS...]");
    return -1;
}

uint64_t monotonicNs()
{
    timespec ts {};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

std::string isoNow()
{
    std::time_t t = std::time(nullptr);
    char buf[32];
    std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
    return buf;
}

// Progress on stderr for long ingests only: quiet for the first second, then a line that updates.
class ProgressLine {
public:
    void operator()(std::string_view stage, double fraction)
    {
        auto now = std::chrono::steady_clock::now();
        if (now - m_start < std::chrono::seconds(1) || now - m_last < std::chrono::milliseconds(m_tty ? 200 : 5000))
            return;
        m_last = now;
        m_shown = true;
        std::fprintf(stderr, m_tty ? "\rtidemark: %.*s %3.0f%%   " : "tidemark: %.*s %3.0f%%\n",
            static_cast<int>(stage.size()), stage.data(), fraction * 100.0);
    }
    void done()
    {
        if (m_shown && m_tty)
            std::fprintf(stderr, "\r%60s\r", "");
    }

private:
    std::chrono::steady_clock::time_point m_start = std::chrono::steady_clock::now(), m_last {};
    bool m_tty = isatty(2);
    bool m_shown = false;
};

// With TIDEMARK_TIMINGS=1, prints the wall and CPU seconds of each post-run stage (for tuning and
// for docs/performance.md); silent otherwise.
class StageTimes {
public:
    void mark(const char* stage)
    {
        if (!m_on)
            return;
        double wall = seconds(CLOCK_MONOTONIC), cpu = seconds(CLOCK_PROCESS_CPUTIME_ID);
        std::fprintf(stderr, "tidemark: timing %-10s wall %7.3f s  cpu %7.3f s\n", stage, wall - m_wall, cpu - m_cpu);
        m_wall = wall;
        m_cpu = cpu;
    }

private:
    static double seconds(clockid_t clock)
    {
        timespec ts {};
        clock_gettime(clock, &ts);
        return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
    }
    bool m_on = std::getenv("TIDEMARK_TIMINGS") != nullptr;
    double m_wall = seconds(CLOCK_MONOTONIC), m_cpu = seconds(CLOCK_PROCESS_CPUTIME_ID);
};

// The capture library goes first in LD_PRELOAD, except after the sanitizer runtimes the user
// preloads (libasan, libtsan, ... must be the first library loaded, or the program stops at start).
std::string preloadList(const std::string& lib, std::string_view existing)
{
    std::string sanitizers, others;
    while (!existing.empty()) {
        size_t end = existing.find_first_of(": ");
        std::string_view item = existing.substr(0, end);
        existing = end == std::string_view::npos ? std::string_view() : existing.substr(end + 1);
        if (item.empty())
            continue;
        std::string_view base = item.substr(item.find_last_of('/') + 1);
        bool sanitizer = base.starts_with("libclang_rt.");
        for (const char* rt : { "libasan.", "libtsan.", "libubsan.", "liblsan.", "libhwasan.", "libmsan." })
            sanitizer = sanitizer || base.starts_with(rt);
        std::string& to = sanitizer ? sanitizers : others;
        to += (to.empty() ? "" : ":") + std::string(item);
    }
    return (sanitizers.empty() ? "" : sanitizers + ":") + lib + (others.empty() ? "" : ":" + others);
}

cli::EnvOverrides targetEnvironment(const Options& o, const std::string& lib, const std::string& spool)
{
    cli::EnvOverrides env;
    const char* preload = std::getenv("LD_PRELOAD");
    env.emplace_back("LD_PRELOAD", preloadList(lib, preload ? preload : ""));
    // A program built with AddressSanitizer stops at start when a preloaded library comes before
    // its runtime ("ASan runtime does not come first"); the capture library intercepts nothing ASan
    // needs, so that check is turned off unless the user set it.
    std::string asan = std::getenv("ASAN_OPTIONS") ? std::getenv("ASAN_OPTIONS") : "";
    if (asan.find("verify_asan_link_order") == std::string::npos)
        env.emplace_back("ASAN_OPTIONS", (asan.empty() ? "" : asan + ":") + "verify_asan_link_order=0");
    // CUDA and NVTX dlopen their injection library: the small one that hands their calls to the
    // preloaded capture library, not that library again (interposer/inject/shim.cpp).
    std::string inject = (fs::path(lib).parent_path() / "libtidemark_inject.so").string();
    if (std::error_code ec; !fs::exists(inject, ec))
        inject = lib;
    if (o.cupti)
        env.emplace_back("CUDA_INJECTION64_PATH", inject);
    if (o.nvtx)
        env.emplace_back("NVTX_INJECTION64_PATH", inject);
    env.emplace_back("TIDEMARK_SPOOL_DIR", spool);
    if (o.stack_depth >= 0)
        env.emplace_back("TIDEMARK_STACK_DEPTH", std::to_string(o.stack_depth));
    if (!o.unwind.empty())
        env.emplace_back("TIDEMARK_UNWIND", o.unwind);
    if (!o.host)
        env.emplace_back("TIDEMARK_HOST", "0");
    if (!o.cupti)
        env.emplace_back("TIDEMARK_CUPTI", "0");
    if (!o.nvtx)
        env.emplace_back("TIDEMARK_NVTX", "0");
    if (!o.follow_fork)
        env.emplace_back("TIDEMARK_FOLLOW_FORK", "0");
    if (o.torch) {
        // lib/tidemark/python, next to the library: sitecustomize.py and the PyTorch hook.
        std::string dir = (fs::path(lib).parent_path() / "python").string();
        const char* path = std::getenv("PYTHONPATH");
        env.emplace_back("PYTHONPATH", path && *path ? dir + ":" + path : dir);
    }
    return env;
}

struct RunFacts {
    int pid = 0;
    int status = 0;
    uint64_t start_ns = 0, end_ns = 0;
    std::string start_iso, end_iso, host;
    std::optional<int64_t> rank;
};

// What the recording says about the run (meta), once the ingest has told how it ended.
collector::MetaRows metaRows(const Options& o, const RunFacts& run, const collector::IngestReport& report,
    const std::string& cutShortHow)
{
    std::error_code ec;
    collector::MetaRows meta = {
        { trace::kMetaRecorder, std::string(trace::kRecorderRecord) },
        { trace::kMetaTidemarkVersion, TIDEMARK_VERSION },
        { trace::kMetaCommandLine, cli::shellQuote(o.argv) },
        { trace::kMetaProgram, o.argv[0] },
        { trace::kMetaCwd, fs::current_path(ec).string() },
        { trace::kMetaHost, run.host },
        { trace::kMetaPid, std::to_string(run.pid) },
        { trace::kMetaStartTime, run.start_iso },
        { trace::kMetaEndTime, run.end_iso },
        { trace::kMetaStartTsNs, std::to_string(run.start_ns) },
        { trace::kMetaEndTsNs, std::to_string(run.end_ns) },
        { trace::kMetaDurationNs, std::to_string(run.end_ns - run.start_ns) },
        { trace::kMetaClock, "CLOCK_MONOTONIC" },
        { trace::kMetaExitCode, std::to_string(cli::shellExitCode(run.status)) },
        { trace::kMetaCutShort, cutShortHow.empty() ? "0" : "1" },
        { trace::kMetaStackDepth, o.stack_depth >= 0 ? std::to_string(o.stack_depth) : "default" },
        { trace::kMetaUnwind, o.unwind.empty() ? "default" : o.unwind },
        { trace::kMetaCaptureHost, o.host ? "1" : "0" },
        { trace::kMetaCaptureCupti, o.cupti ? "1" : "0" },
        { trace::kMetaCaptureNvtx, o.nvtx ? "1" : "0" },
        { trace::kMetaCaptureTorch, o.torch ? "1" : "0" },
        { trace::kMetaFollowFork, o.follow_fork ? "1" : "0" },
        { trace::kMetaSpoolFiles, std::to_string(report.files) },
    };
    if (WIFEXITED(run.status))
        meta.emplace_back(trace::kMetaExitStatus, std::to_string(WEXITSTATUS(run.status)));
    if (WIFSIGNALED(run.status))
        meta.emplace_back(trace::kMetaExitSignal,
            cli::signalDescription(run.status).substr(cli::signalDescription(run.status).rfind(' ') + 1));
    if (!cutShortHow.empty())
        meta.emplace_back(trace::kMetaCutShortReason, cutShortHow);
    if (run.rank)
        meta.emplace_back(trace::kMetaRank, std::to_string(*run.rank));
    return meta;
}

// Finishes the ingest (with symbolization), finalizes and describes the run; returns the exit code of
// `tidemark record`.
int buildRecording(
    const Options& o, collector::RecordSession& session, const std::string& output, const RunFacts& run, StageTimes& times)
{
    int targetCode = cli::shellExitCode(run.status);
    std::string how;
    auto describe = [&](const collector::IngestReport& report) {
        // Cut short: the target died from a signal, or some process's spool ended abruptly.
        how = cli::signalDescription(run.status);
        if (how.empty() && report.cut_short)
            how = report.cut_short_detail;
        else if (!how.empty() && report.cut_short && report.cut_short_detail.find("mid-chunk") != std::string::npos)
            how += "; " + report.cut_short_detail;
        return metaRows(o, run, report, how);
    };
    ProgressLine progress;
    auto finished = session.finish(output, o.force, describe, std::ref(progress), [&](const char* stage) {
        times.mark(stage);
        if (std::string_view(stage) == "finalize")
            progress.done();
    });
    if (!finished) {
        const Error& e = finished.error();
        cli::fail(Error { e.code, "could not write the recording " + output + ": " + e.message + "; nothing was recorded",
            e.hint });
        return targetCode; // the program ran: record exits with its status (docs/cli.md)
    }
    const collector::IngestReport& report = finished->report;
    std::fprintf(stderr, "tidemark: recording written to %s\n", finished->path.c_str());
    if (report.files == 0)
        std::fprintf(stderr,
            "tidemark: warning: no events were captured (a statically linked or setuid program "
            "does not load the capture library)\n");
    std::string inherited = report.inherited_frees == 0 ? ""
        : ", " + std::to_string(report.inherited_frees) + " frees in forked children of blocks inherited from the parent";
    std::fprintf(stderr,
        "tidemark: %llu process%s, %llu allocations (%s), %llu live at exit, %llu unmatched frees%s%s%s\n",
        static_cast<unsigned long long>(report.processes), report.processes == 1 ? "" : "es",
        static_cast<unsigned long long>(report.allocations),
        analysis::humanBytes(static_cast<double>(report.allocation_bytes)).c_str(),
        static_cast<unsigned long long>(report.still_live), static_cast<unsigned long long>(report.unmatched_frees),
        inherited.c_str(), how.empty() ? "" : "; cut short: ", how.c_str());
    return targetCode;
}

collector::IngestOptions ingestOptions(const std::string& host)
{
    collector::IngestOptions options { host, cli::launcherRank(), true, true };
    if (const char* flush = std::getenv("TIDEMARK_FLUSH_MS")) // how often the program's drain thread writes
        options.live_lag_ns = collector::IngestOptions::liveLagFor(std::strtoull(flush, nullptr, 10));
    return options;
}

int run(const std::vector<std::string>& args)
{
    Options o;
    if (int rc = parse(args, o); rc >= 0)
        return rc;
    auto lib = cli::findCaptureLibrary();
    if (!lib)
        return cli::fail(lib.error());
    std::string host = cli::hostName();
    int64_t rank = cli::launcherRank().value_or(0);
    if (!o.output.empty()) {
        // Fail before running a long job when the output can never be written.
        fs::path dir = fs::path(cli::expandOutputPattern(o.output, 0, host, rank)).parent_path();
        if (!dir.empty() && !fs::is_directory(dir))
            return cli::fail("the output directory " + dir.string() + " does not exist");
        if (!o.force && o.output.find('%') == std::string::npos && cli::outputTaken(o.output, "record"))
            return cli::kExitUsage;
    }
    const char* tmp = std::getenv("TMPDIR");
    std::string templ = std::string(tmp && *tmp ? tmp : "/tmp") + "/tidemark-spool.XXXXXX";
    if (!mkdtemp(templ.data()))
        return cli::fail("cannot create a spool directory in " + templ.substr(0, templ.rfind('/')));
    std::string spool = templ;

    // The recording is written beside the program as it runs, in the output's directory (the output's
    // name may hold the program's pid, unknown until it starts).
    fs::path dir = fs::path(cli::expandOutputPattern(o.output.empty() ? "x" : o.output, 0, host, rank)).parent_path();
    auto session = collector::RecordSession::create(dir.string(), spool, ingestOptions(host));
    if (!session) {
        std::error_code ec;
        fs::remove_all(spool, ec);
        return cli::fail(session.error());
    }

    std::string startIso = isoNow();
    uint64_t startNs = monotonicNs();
    StageTimes times;
    auto environment = targetEnvironment(o, *lib, spool);
    for (const auto& [name, value] : environment)
        if (name == "LD_PRELOAD" && !value.starts_with(*lib))
            std::fprintf(stderr,
                "tidemark: warning: a sanitizer runtime in LD_PRELOAD must load before the capture library, so "
                "its malloc is the one the program calls: host allocations will not be seen\n");
    auto pid = cli::startTarget(o.argv, environment);
    if (!pid) {
        session->abandon();
        std::error_code ec;
        fs::remove_all(spool, ec);
        cli::fail(pid.error());
        return 127; // like a shell that cannot run the command
    }
    // Ingest while it runs: most of the work is done by the time it exits. TIDEMARK_LIVE_INGEST=0
    // leaves everything for after the program.
    const char* live = std::getenv("TIDEMARK_LIVE_INGEST");
    if (!live || std::string_view(live) != "0")
        session->follow();
    int status = cli::waitTarget(*pid);
    times.mark("program");
    uint64_t pairedLive = session->stopFollowing();
    times.mark("live");
    if (std::getenv("TIDEMARK_TIMINGS"))
        std::fprintf(stderr, "tidemark: timing paired while the program ran: %llu records\n",
            static_cast<unsigned long long>(pairedLive));
    // Like heaptrack: no network lookups of debug info (libdw would ask every DEBUGINFOD_URLS server
    // for each module without local debug info) unless asked for.
    if (!std::getenv("TIDEMARK_DEBUGINFOD"))
        ::unsetenv("DEBUGINFOD_URLS");
    uint64_t endNs = monotonicNs();
    std::string output = o.output.empty()
        ? "tidemark." + fs::path(o.argv[0]).filename().string() + "." + std::to_string(*pid) + ".tmdb"
        : cli::expandOutputPattern(o.output, *pid, host, rank);
    RunFacts facts { *pid, status, startNs, endNs, startIso, isoNow(), host, cli::launcherRank() };
    int rc = buildRecording(o, *session, output, facts, times);
    if (o.keep_spool) {
        std::fprintf(stderr, "tidemark: spool kept in %s\n", spool.c_str());
    } else {
        std::error_code ec;
        fs::remove_all(spool, ec);
    }
    times.mark("cleanup"); // the recording renamed into place (replacing an older one), the spool removed
    return rc;
}

tidemark::cli::Registration reg(
    { "record", "run a program and record its host and GPU memory into a .tmdb file", run, 10, kHelp });

} // namespace
