// Synthetic training recordings for the CI-gate tests, written row by row into the real schema and
// finalized like a recording made by `record`. See training_fixture.h for the shape.
#include "training_fixture.h"

#include "trace/finalize.h"
#include "trace/enums.h"
#include "trace/recording.h"
#include "trace/rows.h"

#include <algorithm>
#include <map>
#include <vector>

namespace tidemark::testing {

namespace {

    class Writer {
    public:
        explicit Writer(trace::Db& db)
            : m_db(db)
        {
        }
        // Errors are sticky: the first failed statement is kept and reported once at the end.
        Status exec(const std::string& sql)
        {
            auto st = m_db.exec(sql);
            if (!st && m_error.ok())
                m_error = st;
            return st;
        }
        const Status& error() const { return m_error; }

        int64_t str(const std::string& s)
        {
            auto id = trace::internString(m_db, s);
            return id ? *id : 0;
        }

        // A stack given outermost first; returns the leaf callsite.
        int64_t callsite(const std::vector<std::string>& functions)
        {
            int64_t parent = 0;
            for (size_t d = 0; d < functions.size(); ++d) {
                auto key = std::make_pair(parent, functions[d]);
                auto it = m_callsites.find(key);
                if (it == m_callsites.end()) {
                    int64_t frame = ++m_frames;
                    exec("INSERT INTO frames(id, module_id, ip, rel_pc) VALUES (" + std::to_string(frame) + ", NULL, "
                        + std::to_string(0x1000 + frame * 16) + ", NULL)");
                    exec("INSERT INTO symbols(frame_id, inline_depth, function_id, file_id, line) VALUES ("
                        + std::to_string(frame) + ", 0, " + std::to_string(str(functions[d])) + ", "
                        + std::to_string(str("train.cpp")) + ", " + std::to_string(10 + frame) + ")");
                    int64_t id = ++m_callsiteIds;
                    exec("INSERT INTO callsites(id, parent_id, frame_id, depth) VALUES (" + std::to_string(id) + ", "
                        + (parent ? std::to_string(parent) : "NULL") + ", " + std::to_string(frame) + ", "
                        + std::to_string(d) + ")");
                    it = m_callsites.emplace(key, id).first;
                }
                parent = it->second;
            }
            return parent;
        }

        int64_t range(const std::string& name, int64_t parent, int depth, int64_t t0, int64_t t1)
        {
            int64_t id = ++m_ranges;
            exec("INSERT INTO ranges(id, process_id, thread_id, parent_id, depth, kind, name_id, start_ts_ns, "
                 "end_ts_ns) VALUES ("
                + std::to_string(id) + ", 1, 1, " + (parent ? std::to_string(parent) : "NULL") + ", "
                + std::to_string(depth) + ", 'push', " + std::to_string(str(name)) + ", " + std::to_string(t0) + ", "
                + std::to_string(t1) + ")");
            return id;
        }

        int64_t alloc(int64_t space, int64_t size, int64_t t, int64_t callsite, int64_t rangeId,
            std::optional<int64_t> freeTs, const std::string& name = {})
        {
            int64_t id = ++m_allocs;
            bool device = space == 2;
            Api api = device ? Api::CudaMalloc : Api::Malloc;
            Api freeApi = device ? Api::CudaFree : Api::Free;
            if (!m_insertAllocation) {
                std::vector<std::string> columns = trace::kAllocationColumns;
                columns.push_back("id"); // parameter 16, after the row's own
                auto st = m_db.prepare(trace::insertSql("allocations", columns));
                if (!st) {
                    if (m_error.ok())
                        m_error = st.error();
                    return id;
                }
                m_insertAllocation.emplace(std::move(*st));
            }
            trace::AllocationRow row { .space_id = space,
                .process_id = 1,
                .thread_id = 1,
                .api = api,
                .address = 0x7f0000000000LL + id * 0x100000,
                .size_bytes = size,
                .alloc_ts_ns = t,
                .free_ts_ns = freeTs,
                .free_api = freeTs ? std::optional<Api>(freeApi) : std::nullopt,
                .callsite_id = callsite,
                .range_id = rangeId ? std::optional<int64_t>(rangeId) : std::nullopt,
                .source_mask = 1 };
            if (!name.empty())
                row.name_id = str(name);
            trace::bindRow(*m_insertAllocation, row);
            m_insertAllocation->bind(16, id);
            if (auto s = m_insertAllocation->run(); !s && m_error.ok())
                m_error = s;
            m_events[space].push_back({ t, size });
            if (freeTs)
                m_events[space].push_back({ *freeTs, -size });
            return id;
        }

        int64_t peak(int64_t space)
        {
            auto ev = m_events[space];
            // Frees before allocations at equal times, as the analysis orders them.
            std::sort(ev.begin(), ev.end(),
                [](auto& a, auto& b) { return a.first != b.first ? a.first < b.first : a.second < b.second; });
            int64_t live = 0, best = 0;
            for (auto& [t, d] : ev) {
                live += d;
                best = std::max(best, live);
            }
            return best;
        }
        int64_t allocations() const { return m_allocs; }
        int64_t ranges() const { return m_ranges; }

    private:
        trace::Db& m_db;
        std::map<std::pair<int64_t, std::string>, int64_t> m_callsites;
        int64_t m_frames = 0, m_callsiteIds = 0, m_ranges = 0, m_allocs = 0;
        std::map<int64_t, std::vector<std::pair<int64_t, int64_t>>> m_events;
        Status m_error = okStatus();
        std::optional<trace::Stmt> m_insertAllocation;
    };

    constexpr int64_t kStepNs = 1'000'000;
    constexpr int64_t kStart = 1'000'000'000;

    void writeStep(Writer& w, const TrainingShape& s, int i, TrainingTruth& truth, int64_t csForward,
        int64_t csBackward, int64_t csLeak, int64_t csBatch, int64_t csOptimizer)
    {
        int64_t t = kStart + 10'000 + i * kStepNs;
        int64_t step = w.range("step " + std::to_string(i), 0, 0, t, t + 900'000);
        int64_t fwd = w.range("forward", step, 1, t + 10'000, t + 400'000);
        int64_t bwd = w.range("backward", step, 1, t + 400'000, t + 800'000);
        int64_t opt = w.range("optimizer", step, 1, t + 800'000, t + 890'000);
        w.alloc(1, 65536, t + 1'000, csBatch, step, t + 895'000);
        for (int l = 0; l < s.layers; ++l)
            w.alloc(2, s.batch * 4096, t + 11'000 + l * 1'000, csForward, fwd, t + 420'000 - l * 1'000);
        if (s.leakEvery > 0 && i % s.leakEvery == 0) {
            w.alloc(2, s.leakBytes, t + 20'000, csLeak, fwd, std::nullopt);
            truth.deviceLeakedBytes += s.leakBytes;
        }
        w.alloc(2, s.batch * 2048, t + 410'000, csBackward, bwd, t + 790'000);
        w.alloc(2, 65536, t + 801'000, csOptimizer, opt, t + 880'000, s.oddName);
        w.exec("INSERT INTO kernels(process_id, device, stream, start_ts_ns, end_ts_ns, name_id, source_mask) VALUES "
               "(1, 0, 7, "
            + std::to_string(t + 12'000) + ", " + std::to_string(t + 300'000) + ", "
            + std::to_string(w.str("gemm_kernel")) + ", 2)");
        w.exec("INSERT INTO kernels(process_id, device, stream, start_ts_ns, end_ts_ns, name_id, source_mask) VALUES "
               "(1, 0, 7, "
            + std::to_string(t + 420'000) + ", " + std::to_string(t + 700'000) + ", "
            + std::to_string(w.str("gemm_grad_kernel")) + ", 2)");
        w.exec("INSERT INTO memcpys(process_id, device, stream, start_ts_ns, end_ts_ns, size_bytes, copy_kind, "
               "source_mask) VALUES (1, 0, 9, "
            + std::to_string(t + 2'000) + ", " + std::to_string(t + 9'000) + ", 65536, 'HtoD', 2)");
        w.exec("INSERT INTO memsets(process_id, device, stream, start_ts_ns, end_ts_ns, size_bytes, value, "
               "source_mask) VALUES (1, 0, 7, "
            + std::to_string(t + 805'000) + ", " + std::to_string(t + 806'000) + ", 65536, 0, 2)");
        truth.kernels += 2;
        truth.copies += 2;
    }

} // namespace

Result<TrainingTruth> writeTrainingRecording(const std::string& path, const TrainingShape& s)
{
    auto db = trace::createRecording(path, true);
    if (!db)
        return db.error();
    Writer w(*db);
    TrainingTruth truth;
    int64_t end = kStart + 10'000 + s.steps * kStepNs + 50'000;
    std::string rank = s.rank ? std::to_string(*s.rank) : "NULL";
    w.exec("BEGIN");
    w.exec("INSERT INTO processes(id, pid, exe, command_line, rank, host, start_ts_ns, end_ts_ns, end_reason) VALUES "
           "(1, 4242, "
           "'/opt/train', '/opt/train --batch-size "
        + std::to_string(s.batch) + "', " + rank + ", 'node1', " + std::to_string(kStart) + ", " + std::to_string(end)
        + ", 'exit')");
    w.exec("INSERT INTO threads(id, process_id, tid, name, start_ts_ns, end_ts_ns) VALUES (1, 1, 4242, 'train', "
        + std::to_string(kStart) + ", " + std::to_string(end) + ")");
    w.exec("INSERT INTO spaces(id, kind, device, name) VALUES (1, 'host', NULL, 'host')");
    w.exec("INSERT INTO spaces(id, kind, device, name, capacity_bytes) VALUES (2, 'device', 0, 'cuda:0', 17179869184)");
    int64_t csWeights = w.callsite({ "main", "init_model", "init_weights" });
    int64_t csForward = w.callsite({ "main", "train_step", "layer_forward" });
    int64_t csBackward = w.callsite({ "main", "train_step", "layer_backward" });
    int64_t csLeak = w.callsite({ "main", "train_step", "layer_forward", "leaky_cache" });
    int64_t csBatch = w.callsite({ "main", "train_step", "load_batch" });
    int64_t csOptimizer = w.callsite({ "main", "train_step", "optimizer_step" });
    w.alloc(2, s.weightBytes, kStart + 1'000, csWeights, 0, std::nullopt);
    for (int i = 0; i < s.steps; ++i)
        writeStep(w, s, i, truth, csForward, csBackward, csLeak, csBatch, csOptimizer);
    for (int f = 0; f < s.failedAllocations; ++f)
        w.exec("INSERT INTO failed_allocations(space_id, process_id, thread_id, api, size_bytes, ts_ns, callsite_id, "
               "error_name, "
               "source_mask) VALUES (2, 1, 1, "
            + std::to_string(static_cast<int>(Api::CudaMalloc)) + ", 34359738368, " + std::to_string(end - 10'000 + f)
            + ", " + std::to_string(csForward) + ", 'cudaErrorMemoryAllocation', 2)");
    if (auto st = w.exec("COMMIT"); !st || !w.error())
        return w.error().ok() ? st.error() : w.error().error();
    truth.devicePeakBytes = w.peak(2);
    truth.hostPeakBytes = w.peak(1);
    truth.allocations = w.allocations();
    truth.ranges = w.ranges();
    truth.failed = s.failedAllocations;
    if (auto st = trace::finalizeRecording(*db); !st)
        return st.error();
    return truth;
}

} // namespace tidemark::testing
