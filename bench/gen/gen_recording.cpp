// tidemark-gen-recording: writes a synthetic training-like recording of N allocations directly through
// trace/ (createRecording + batched inserts), for measuring finalize and report on big inputs.
// Shape: steps of forward (per-layer activations in a pool, temporaries on host and in the pool),
// backward (activations freed in reverse) and optimizer; a planted leak every 10 steps.
#include "analysis/analysis.h"
#include "trace/enums.h"
#include "trace/finalize.h"
#include "trace/meta_keys.h"
#include "trace/recording.h"
#include "trace/rows.h"
#include "trace/space_names.h"

#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

using namespace tidemark;

namespace {

struct Options {
    std::string out = "gen.tmdb";
    int64_t allocations = 10'000'000;
    int64_t steps = 1000;
    int layers = 24;
    bool finalize = false; // also run finalizeRecording and time it
    bool report = false;   // also build the report (all queries) and time each stage
};

double since(std::chrono::steady_clock::time_point t0)
{
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Process CPU seconds: the machine is shared, so wall time alone overstates the cost.
double cpuNow() { return static_cast<double>(std::clock()) / CLOCKS_PER_SEC; }

// Runs one query, printing wall and CPU seconds.
template<typename F>
void timed(const char* what, F&& f)
{
    auto w = std::chrono::steady_clock::now();
    double c = cpuNow();
    bool ok = f();
    std::printf("  %-34s %6.2f s wall %6.2f s cpu%s\n", what, since(w), cpuNow() - c, ok ? "" : "  FAILED");
}

// Times finalize and the report's stages on the written file, as `record` and `report` would run them.
int measure(const Options& o)
{
    if (o.finalize) {
        auto t0 = std::chrono::steady_clock::now();
        double c0 = cpuNow();
        auto db = trace::openRecording(o.out, trace::OpenMode::ReadWrite);
        if (!db)
            return 2;
        auto s = trace::finalizeRecording(*db, [&](std::string_view stage, double f) {
            if (f >= 1.0)
                std::printf("  finalize %-8.*s done at %.1f s wall, %.1f s cpu\n", static_cast<int>(stage.size()), stage.data(),
                    since(t0), cpuNow() - c0);
        });
        if (!s) {
            std::fprintf(stderr, "finalize: %s\n", s.error().message.c_str());
            return 2;
        }
        std::printf("finalize: %.1f s wall, %.1f s cpu\n", since(t0), cpuNow() - c0);
    }
    if (o.report) {
        auto rec = analysis::Recording::open(o.out);
        if (!rec)
            return 2;
        for (const auto& sp : rec->spaces()) {
            std::string n = sp.name;
            timed(("peak " + n).c_str(), [&] { return analysis::peak(*rec, sp.id).ok(); });
            timed(("leaks " + n).c_str(), [&] { return analysis::leaks(*rec, sp.id).ok(); });
            timed(("growth " + n).c_str(), [&] { return analysis::growth(*rec, sp.id).ok(); });
            timed(("churn " + n).c_str(), [&] { return analysis::churn(*rec, sp.id).ok(); });
            if (sp.isPool())
                timed(("fragmentation " + n).c_str(), [&] { return analysis::fragmentation(*rec, sp.id).ok(); });
        }
        timed("summary", [&] { return analysis::summary(*rec).ok(); });
        timed("timeline 1920 px, whole run", [&] { return analysis::timeline(*rec, 3, rec->startNs(), rec->endNs() + 1, 1920).ok(); });
        analysis::TimeNs mid = (rec->startNs() + rec->endNs()) / 2, span = rec->endNs() - rec->startNs();
        timed("timeline 1920 px, 1/100 of the run", [&] { return analysis::timeline(*rec, 3, mid, mid + span / 100, 1920).ok(); });
        timed("timeline 1920 px, 1/10000 of the run", [&] { return analysis::timeline(*rec, 3, mid, mid + span / 10000, 1920).ok(); });
        timed("segment map at mid-run", [&] { return analysis::segmentMap(*rec, 3, mid).ok(); });
        timed("call tree, peak bytes, top-down", [&] {
            return analysis::callTree(*rec, 3, analysis::TreeWeight::PeakBytes, analysis::TreeDirection::TopDown).ok();
        });
        auto fresh = analysis::Recording::open(o.out);
        timed("whole report (buildReport + JSON)", [&] {
            auto r = analysis::buildReport(*fresh, {});
            return r.ok() && !analysis::renderJson(*r).empty();
        });
    }
    return 0;
}

struct Writer {
    trace::Db& db;
    trace::Stmt insert;
    int64_t rows = 0;
    void alloc(int64_t space, int64_t thread, Api api, int64_t addr, int64_t size, int64_t at, std::optional<int64_t> freeAt,
        int64_t callsite, int64_t range, std::optional<int64_t> heap)
    {
        trace::bindRow(insert,
            { .space_id = space,
                .process_id = 1,
                .thread_id = thread,
                .api = api,
                .address = addr,
                .size_bytes = size,
                .alloc_ts_ns = at,
                .free_ts_ns = freeAt,
                .callsite_id = callsite,
                .range_id = range,
                .heap_id = heap,
                .source_mask = 1 });
        if (auto s = insert.run(); !s) {
            std::fprintf(stderr, "tidemark-gen-recording: %s\n", s.error().message.c_str());
            std::exit(2);
        }
        ++rows;
    }
};

int64_t str(trace::Db& db, const std::string& s) { return *trace::internString(db, s); }

// Frames for a handful of functions; a callsite per (phase, layer, role) with a shared prefix.
struct Stacks {
    trace::Db& db;
    int64_t nextFrame = 1, nextCallsite = 1;
    int64_t frame(const std::string& function, const std::string& file, int line, int64_t module)
    {
        int64_t id = nextFrame++;
        (void)trace::insertRow(
            db, trace::FrameRow { .id = id, .module_id = module, .ip = 0x400000 + id * 32, .rel_pc = id * 32 });
        (void)trace::insertRow(db,
            trace::SymbolRow {
                .frame_id = id, .function_id = str(db, function), .file_id = str(db, file), .line = line });
        return id;
    }
    int64_t callsite(const std::vector<int64_t>& frames)
    {
        int64_t parent = 0;
        for (size_t d = 0; d < frames.size(); ++d) {
            int64_t id = nextCallsite++;
            (void)trace::insertRow(db,
                trace::CallsiteRow { .id = id,
                    .parent_id = parent ? std::optional<int64_t>(parent) : std::nullopt,
                    .frame_id = frames[d],
                    .depth = static_cast<int64_t>(d) });
            parent = id;
        }
        return parent;
    }
};

int64_t range(trace::Db& db, int64_t parent, int depth, const std::string& name, int64_t start, int64_t end)
{
    (void)trace::insertRow(db,
        trace::RangeRow { .process_id = 1,
            .thread_id = 1,
            .parent_id = parent ? std::optional<int64_t>(parent) : std::nullopt,
            .depth = depth,
            .kind = "push",
            .name_id = str(db, name),
            .start_ts_ns = start,
            .end_ts_ns = end });
    return db.lastInsertId();
}

} // namespace

int main(int argc, char** argv)
{
    Options o;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if ((a == "-o" || a == "--out") && i + 1 < argc)
            o.out = argv[++i];
        else if (a == "--allocations" && i + 1 < argc)
            o.allocations = std::atoll(argv[++i]);
        else if (a == "--steps" && i + 1 < argc)
            o.steps = std::atoll(argv[++i]);
        else if (a == "--finalize")
            o.finalize = true;
        else if (a == "--report")
            o.report = true;
        else if (a == "--measure-only")
            o.allocations = 0;
        else {
            std::fprintf(stderr, "usage: tidemark-gen-recording [-o FILE] [--allocations N] [--steps N] [--finalize] [--report]\n"
                                 "       tidemark-gen-recording -o FILE --measure-only [--finalize] [--report]\n");
            return 2;
        }
    }
    if (o.allocations == 0)
        return measure(o);
    auto t0 = std::chrono::steady_clock::now();
    auto db = trace::createRecording(o.out);
    if (!db) {
        std::fprintf(stderr, "tidemark-gen-recording: %s\n", db.error().message.c_str());
        return 2;
    }
    trace::Transaction tx(*db);
    (void)trace::insertRow(*db,
        trace::ProcessRow { .id = 1,
            .pid = 4242,
            .exe = "/usr/bin/synthetic-train",
            .command_line = "synthetic-train --layers 24",
            .start_ts_ns = 0,
            .end_reason = "exit" });
    (void)trace::insertRow(*db, trace::ThreadRow { .id = 1, .process_id = 1, .tid = 4242 });
    (void)trace::insertRow(*db, trace::ModuleRow { .id = 1, .process_id = 1, .path = "/usr/bin/synthetic-train" });
    (void)trace::insertRow(
        *db, trace::ModuleRow { .id = 2, .process_id = 1, .path = "/lib/x86_64-linux-gnu/libc.so.6" });
    const auto space = [&](int64_t id, SpaceKind kind, std::optional<int64_t> capacity,
                           std::optional<int64_t> parent) {
        const bool onDevice = kind == SpaceKind::Device || kind == SpaceKind::Pool;
        (void)trace::insertRow(*db,
            trace::SpaceRow { .id = id,
                .kind = std::string(spaceKindName(kind)),
                .device = onDevice ? std::optional<int64_t>(0) : std::nullopt,
                .name = trace::spaceName(kind, 0),
                .capacity_bytes = capacity,
                .parent_space_id = parent });
    };
    space(1, SpaceKind::Host, std::nullopt, std::nullopt);
    space(2, SpaceKind::Device, int64_t { 17179869184 }, std::nullopt);
    space(3, SpaceKind::Pool, std::nullopt, 2);
    Stacks stacks { *db };
    int64_t fMain = stacks.frame("main", "train.cpp", 10, 1), fStep = stacks.frame("Trainer::step", "trainer.cpp", 40, 1);
    int64_t fFwd = stacks.frame("Layer::forward", "layer.cpp", 22, 1), fBwd = stacks.frame("Layer::backward", "layer.cpp", 61, 1);
    int64_t fTmp = stacks.frame("gemm_workspace", "blas.cpp", 90, 1), fOpt = stacks.frame("Adam::update", "adam.cpp", 15, 1);
    int64_t fLeak = stacks.frame("remember_batch_stats", "stats.cpp", 7, 1), fSeg = stacks.frame("CachingAllocator::grow", "alloc.cpp", 120, 1);
    int64_t fMalloc = stacks.frame("malloc", "malloc.c", 3000, 2);
    int64_t csAct = stacks.callsite({ fMain, fStep, fFwd }), csTmpHost = stacks.callsite({ fMain, fStep, fFwd, fTmp, fMalloc });
    int64_t csTmpPool = stacks.callsite({ fMain, fStep, fBwd, fTmp }), csOpt = stacks.callsite({ fMain, fStep, fOpt });
    int64_t csLeak = stacks.callsite({ fMain, fStep, fLeak, fMalloc }), csSeg = stacks.callsite({ fMain, fStep, fSeg });

    auto ins = db->prepare(trace::insertSql("allocations", trace::kAllocationColumns));
    Writer w { *db, std::move(*ins) };
    // Two device segments registered as pool heaps: 0 for activations (bump per step), 1 for temporaries.
    const int64_t kHeap = int64_t { 1 } << 30;
    for (int h = 0; h < 2; ++h) {
        int64_t addr = 0x7f0000000000 + h * kHeap;
        w.alloc(2, 1, Api::CudaMalloc, addr, kHeap, 1 + h, std::nullopt, csSeg, 0, std::nullopt);
        auto st = db->prepare("INSERT INTO pool_heaps(id, space_id, process_id, address, size_bytes, usage, register_ts_ns) "
                              "VALUES (?, 3, 1, ?, ?, 'sub_allocator', ?)");
        st->bind(1, static_cast<int64_t>(h + 1)).bind(2, addr).bind(3, kHeap).bind(4, static_cast<int64_t>(2 + h)).run();
    }
    std::mt19937_64 rng(1);
    int64_t perStep = std::max<int64_t>(o.layers * 3, o.allocations / std::max<int64_t>(1, o.steps));
    int64_t tempsPerLayer = std::max<int64_t>(1, (perStep - 2 * o.layers) / (2 * o.layers));
    int64_t t = 1000;
    int64_t hostAddr = 0x10000000;
    for (int64_t s = 0; s < o.steps && w.rows < o.allocations; ++s) {
        int64_t stepStart = t;
        int64_t stepRange = range(*db, 0, 0, "step " + std::to_string(s), stepStart, 0);
        int64_t fwd = range(*db, stepRange, 1, "forward", t, 0);
        struct Act {
            int64_t at, size, addr, range;
        };
        std::vector<Act> acts; // written when backward frees them
        int64_t bump = 0x7f0000000000;
        std::vector<int64_t> layerRanges;
        for (int l = 0; l < o.layers; ++l) {
            int64_t lr = range(*db, fwd, 2, "layer" + std::to_string(l), t, 0);
            layerRanges.push_back(lr);
            int64_t size = (int64_t { 1 } << 20) * (1 + l % 4);
            acts.push_back(Act { t++, size, bump, lr });
            bump += size;
            for (int64_t k = 0; k < tempsPerLayer; ++k) {
                int64_t sz = 64 + static_cast<int64_t>(rng() % 4096);
                w.alloc(1, 1, Api::Malloc, hostAddr + (k % 64) * 8192, sz, t, t + 3, csTmpHost, lr, std::nullopt);
                t += 5;
            }
            db->exec("UPDATE ranges SET end_ts_ns = " + std::to_string(t) + " WHERE id = " + std::to_string(lr));
        }
        db->exec("UPDATE ranges SET end_ts_ns = " + std::to_string(t) + " WHERE id = " + std::to_string(fwd));
        int64_t bwd = range(*db, stepRange, 1, "backward", t, 0);
        for (int l = o.layers - 1; l >= 0; --l) {
            for (int64_t k = 0; k < tempsPerLayer; ++k) {
                int64_t sz = 4096 + static_cast<int64_t>(rng() % (1 << 16));
                w.alloc(3, 1, Api::NvtxMemRegion, 0x7f0000000000 + kHeap + (k % 256) * (1 << 17), sz, t, t + 4, csTmpPool, bwd, 2);
                t += 6;
            }
            const Act& a = acts[l];
            w.alloc(3, 1, Api::NvtxMemRegion, a.addr, a.size, a.at, t++, csAct, a.range, 1);
        }
        db->exec("UPDATE ranges SET end_ts_ns = " + std::to_string(t) + " WHERE id = " + std::to_string(bwd));
        int64_t opt = range(*db, stepRange, 1, "optimizer", t, 0);
        for (int k = 0; k < o.layers; ++k) {
            w.alloc(1, 1, Api::Malloc, hostAddr + 0x100000 + k * 4096, 2048, t, t + 50, csOpt, opt, std::nullopt);
            t += 2;
        }
        if (s % 10 == 9) // the planted leak: 64 KiB every 10 steps, never freed
            w.alloc(1, 1, Api::Malloc, 0x20000000 + s * 65536, 65536, t++, std::nullopt, csLeak, opt, std::nullopt);
        t += 100;
        db->exec("UPDATE ranges SET end_ts_ns = " + std::to_string(t) + " WHERE id = " + std::to_string(opt)
            + "; UPDATE ranges SET end_ts_ns = " + std::to_string(t) + " WHERE id = " + std::to_string(stepRange));
    }
    db->exec("UPDATE processes SET end_ts_ns = " + std::to_string(t) + " WHERE id = 1");
    trace::setMeta(*db, trace::kMetaExitStatus, "0");
    if (auto s = tx.commit(); !s) {
        std::fprintf(stderr, "tidemark-gen-recording: %s\n", s.error().message.c_str());
        return 2;
    }
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("wrote %s: %lld allocations, %lld steps, %.1f s wall\n", o.out.c_str(), static_cast<long long>(w.rows),
        static_cast<long long>(o.steps), secs);
    return measure(o);
}
