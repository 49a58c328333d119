// Chrome trace, folded-stack and CSV exports. Events are written one by one (no whole-document tree in
// memory), so a recording with millions of ranges or allocations exports in bounded memory.
#include "analysis/export.h"
#include "analysis/json_io.h"

#include "analysis/queries.h"
#include "analysis/report.h"

#include <nlohmann/json.hpp>

#include <map>

namespace tidemark::analysis {

using nlohmann::json;

namespace {

    // GPU activity gets synthetic processes far from real pids: one per device.
    constexpr int64_t kGpuPidBase = 1000000000;
    // Copies and memsets get their own track next to each stream's kernels.
    constexpr int64_t kCopyTidOffset = 1000000;

    class EventWriter {
    public:
        EventWriter(std::ostream& out, TimeNs t0)
            : m_out(out)
            , m_t0(t0)
        {
            m_out << "{\"displayTimeUnit\":\"ms\",\"traceEvents\":[\n";
        }
        double us(TimeNs ns) const { return static_cast<double>(ns - m_t0) / 1000.0; }
        void write(const json& ev)
        {
            m_out << (m_first ? "" : ",\n") << dumpJson(ev);
            m_first = false;
        }
        void finish(const json& metadata) { m_out << "\n],\"metadata\":" << dumpJson(metadata) << "}\n"; }

    private:
        std::ostream& m_out;
        TimeNs m_t0;
        bool m_first = true;
    };

    struct Names {
        std::map<int64_t, int64_t> pidOf; // process row id -> pid
        std::map<int64_t, std::pair<int64_t, int64_t>> thread; // thread row id -> (pid, tid)
        std::map<int64_t, std::string> threadName;
    };

    Result<Names> loadNames(Recording& rec, const Summary& s)
    {
        Names n;
        for (const auto& p : s.processList)
            n.pidOf[p.id] = p.pid;
        auto st = rec.db().prepare("SELECT id, process_id, tid, coalesce(name, '') FROM threads");
        if (!st)
            return st.error();
        while (st->step()) {
            int64_t pid = n.pidOf.count(st->int64(1)) ? n.pidOf[st->int64(1)] : st->int64(1);
            n.thread[st->int64(0)] = { pid, st->int64(2) };
            n.threadName[st->int64(0)] = st->text(3);
        }
        if (!st->status())
            return st->status().error();
        return n;
    }

    json meta(const char* what, int64_t pid, int64_t tid, const std::string& name)
    {
        return json { { "ph", "M" }, { "name", what }, { "pid", pid }, { "tid", tid },
            { "args", { { "name", name } } } };
    }

    Status writeCounters(Recording& rec, EventWriter& w, int64_t pid, const ChromeOptions& o, ExportStats& stats)
    {
        TimeNs t0 = rec.startNs();
        TimeNs t1 = std::max(rec.endNs(), t0) + 1;
        for (const auto& space : rec.spaces()) {
            auto tl = timeline(rec, space.id, t0, t1, o.counterBuckets);
            if (!tl)
                return tl.error();
            std::string name = space.name + " live bytes";
            int64_t lastLive = -1, lastReserved = -1;
            for (const auto& b : tl->buckets) {
                // The bucket's maximum, so the peak survives any zoom; unchanged values are not repeated.
                int64_t live = b.maxLiveBytes;
                int64_t reserved = tl->hasReserved ? b.reservedMaxBytes : 0;
                if (live == lastLive && reserved == lastReserved)
                    continue;
                json args { { "live", live } };
                if (tl->hasReserved)
                    args["reserved_not_in_use"] = std::max<int64_t>(0, reserved - live);
                w.write(json { { "ph", "C" }, { "name", name }, { "pid", pid }, { "tid", 0 }, { "ts", w.us(b.startNs) },
                    { "args", std::move(args) } });
                ++stats.counters;
                lastLive = live;
                lastReserved = reserved;
            }
        }
        return okStatus();
    }

    Status writeRanges(Recording& rec, EventWriter& w, const Names& n, ExportStats& stats)
    {
        auto ranges = analysis::ranges(rec, rec.startNs(), std::max(rec.endNs(), rec.startNs()) + 1, 0);
        if (!ranges)
            return ranges.error();
        std::map<std::pair<int64_t, int64_t>, std::string> named;
        for (const auto& r : *ranges) {
            auto it = n.thread.find(r.threadId);
            int64_t pid
                = it != n.thread.end() ? it->second.first : (n.pidOf.count(r.processId) ? n.pidOf.at(r.processId) : 0);
            int64_t tid = it != n.thread.end() ? it->second.second : r.threadId;
            if (!named.count({ pid, tid })) {
                auto tn = n.threadName.find(r.threadId);
                named[{ pid, tid }] = "NVTX "
                    + (tn != n.threadName.end() && !tn->second.empty() ? tn->second : "thread " + std::to_string(tid));
            }
            json args { { "phase", r.path } };
            if (!r.domain.empty())
                args["domain"] = r.domain;
            if (r.open)
                args["open_at_end"] = true;
            w.write(json { { "ph", "X" }, { "name", r.name }, { "cat", "nvtx" }, { "pid", pid }, { "tid", tid },
                { "ts", w.us(r.startNs) }, { "dur", static_cast<double>(r.endNs - r.startNs) / 1000.0 },
                { "args", std::move(args) } });
            ++stats.slices;
        }
        for (const auto& [key, name] : named) {
            w.write(meta("thread_name", key.first, key.second, name));
            ++stats.metadata;
        }
        return okStatus();
    }

    Status writeGpu(Recording& rec, EventWriter& w, ExportStats& stats)
    {
        TimeNs t0 = rec.startNs(), t1 = std::max(rec.endNs(), t0) + 1;
        auto kernels = analysis::kernels(rec, t0, t1, 0);
        if (!kernels)
            return kernels.error();
        auto copies = analysis::copies(rec, t0, t1, 0);
        if (!copies)
            return copies.error();
        std::map<std::pair<int64_t, int64_t>, std::string> tracks;
        for (const auto& k : *kernels) {
            int64_t pid = kGpuPidBase + k.device, tid = k.stream;
            tracks[{ pid, tid }] = "stream " + std::to_string(k.stream) + " kernels";
            w.write(json { { "ph", "X" }, { "name", k.name }, { "cat", "kernel" }, { "pid", pid }, { "tid", tid },
                { "ts", w.us(k.startNs) }, { "dur", static_cast<double>(k.endNs - k.startNs) / 1000.0 } });
            ++stats.slices;
        }
        for (const auto& c : *copies) {
            int64_t pid = kGpuPidBase + c.device, tid = kCopyTidOffset + c.stream;
            tracks[{ pid, tid }] = "stream " + std::to_string(c.stream) + " copies";
            w.write(json { { "ph", "X" }, { "name", c.kind + " " + humanBytes(static_cast<double>(c.sizeBytes)) },
                { "cat", "copy" }, { "pid", pid }, { "tid", tid }, { "ts", w.us(c.startNs) },
                { "dur", static_cast<double>(c.endNs - c.startNs) / 1000.0 },
                { "args", { { "size_bytes", c.sizeBytes }, { "kind", c.kind } } } });
            ++stats.slices;
        }
        std::map<int64_t, bool> devices;
        for (const auto& [key, name] : tracks) {
            if (!devices[key.first]) {
                devices[key.first] = true;
                w.write(meta("process_name", key.first, 0, "GPU " + std::to_string(key.first - kGpuPidBase)));
                ++stats.metadata;
            }
            w.write(meta("thread_name", key.first, key.second, name));
            ++stats.metadata;
        }
        return okStatus();
    }

    Status writeFailures(Recording& rec, EventWriter& w, int64_t pid, ExportStats& stats)
    {
        auto failed = failedAllocations(rec, rec.startNs(), std::max(rec.endNs(), rec.startNs()) + 1);
        if (!failed)
            return failed.error();
        for (const auto& f : *failed) {
            const SpaceInfo* space = rec.space(f.spaceId);
            w.write(json { { "ph", "i" }, { "s", "p" },
                { "name", "failed " + f.api + " " + humanBytes(static_cast<double>(f.sizeBytes)) }, { "cat", "oom" },
                { "pid", pid }, { "tid", 0 }, { "ts", w.us(f.ts) },
                { "args",
                    { { "size_bytes", f.sizeBytes }, { "api", f.api }, { "error", f.errorName },
                        { "space", space ? space->name : "" }, { "site", rec.siteOf(f.callsiteId).label } } } });
            ++stats.instants;
        }
        return okStatus();
    }

} // namespace

Result<ExportStats> exportChrome(Recording& rec, std::ostream& out, const ChromeOptions& options)
{
    auto s = summary(rec);
    if (!s)
        return s.error();
    auto names = loadNames(rec, *s);
    if (!names)
        return names.error();
    ExportStats stats;
    EventWriter w(out, rec.startNs());
    // Memory counters and failed allocations live in the first process (the one `record` started).
    int64_t mainPid = s->processList.empty() ? 1 : s->processList.front().pid;
    for (const auto& p : s->processList) {
        w.write(meta("process_name", p.pid, 0,
            (p.exe.empty() ? "process" : p.exe) + (p.rank ? " rank " + std::to_string(*p.rank) : "")));
        ++stats.metadata;
    }
    if (s->processList.empty()) {
        w.write(meta("process_name", mainPid, 0, s->program.empty() ? "recording" : s->program));
        ++stats.metadata;
    }
    w.write(meta("thread_name", mainPid, 0, "memory"));
    ++stats.metadata;
    if (auto st = writeCounters(rec, w, mainPid, options, stats); !st)
        return st.error();
    if (auto st = writeRanges(rec, w, *names, stats); !st)
        return st.error();
    if (auto st = writeGpu(rec, w, stats); !st)
        return st.error();
    if (auto st = writeFailures(rec, w, mainPid, stats); !st)
        return st.error();
    w.finish(json { { "source", "tidemark" }, { "recording", rec.path() }, { "program", s->program } });
    if (!out)
        return makeError(ErrorCode::Io, "writing the Chrome trace failed");
    return stats;
}

Result<ExportStats> exportFolded(Recording& rec, std::ostream& out, TreeWeight weight, int64_t spaceId)
{
    auto tree = callTree(rec, spaceId, weight, TreeDirection::TopDown);
    if (!tree)
        return tree.error();
    ExportStats stats;
    const auto& nodes = tree->nodes;
    auto frameName = [](const TreeNode& n) {
        std::string f = n.location.function.empty() ? n.label : n.location.function;
        for (char& c : f)
            if (c == ';' || c == '\n' || c == '\r')
                c = c == ';' ? ':' : ' ';
        return f;
    };
    // Depth-first with an explicit stack of (node, path so far): deep stacks cannot overflow ours.
    std::vector<std::pair<int, std::string>> todo;
    for (auto it = nodes[0].children.rbegin(); it != nodes[0].children.rend(); ++it)
        todo.emplace_back(*it, frameName(nodes[*it]));
    while (!todo.empty()) {
        auto [index, path] = std::move(todo.back());
        todo.pop_back();
        const TreeNode& n = nodes[index];
        if (n.self > 0) {
            out << path << ' ' << n.self << '\n';
            ++stats.lines;
            stats.totalWeight += n.self;
        }
        for (auto it = n.children.rbegin(); it != n.children.rend(); ++it)
            todo.emplace_back(*it, path + ";" + frameName(nodes[*it]));
    }
    if (!out)
        return makeError(ErrorCode::Io, "writing folded stacks failed");
    return stats;
}

std::string csvField(const std::string& v)
{
    if (v.find_first_of(",\"\r\n") == std::string::npos)
        return v;
    std::string out = "\"";
    for (char c : v)
        out += c == '"' ? std::string("\"\"") : std::string(1, c);
    return out + "\"";
}

Result<ExportStats> exportCsv(Recording& rec, std::ostream& out, int64_t spaceId)
{
    auto st = rec.db().prepare(
        "SELECT id, space_id, api, address, size_bytes, alloc_ts_ns, free_ts_ns, coalesce(thread_id, 0), "
        "coalesce(callsite_id, 0), coalesce(range_id, 0), coalesce(name_id, 0), heap_id IS NOT NULL "
        "FROM allocations WHERE ?1 = 0 OR space_id = ?1 ORDER BY id");
    if (!st)
        return st.error();
    st->bind(1, spaceId);
    ExportStats stats;
    out << "id,space,api,address,size_bytes,alloc_offset_ns,free_offset_ns,lifetime_ns,thread_id,in_pool_heap,phase,"
           "site,name\r\n";
    TimeNs t0 = rec.startNs();
    while (st->step()) {
        const SpaceInfo* space = rec.space(st->int64(1));
        char addr[24];
        std::snprintf(addr, sizeof(addr), "0x%llx", static_cast<unsigned long long>(st->int64(3)));
        bool freed = !st->isNull(6);
        TimeNs alloc = st->int64(5), freeNs = freed ? st->int64(6) : 0;
        out << st->int64(0) << ',' << csvField(space ? space->name : "") << ',' << csvField(rec.apiName(st->int64(2)))
            << ',' << addr << ',' << st->int64(4) << ',' << (alloc - t0) << ','
            << (freed ? std::to_string(freeNs - t0) : "") << ',' << (freed ? std::to_string(freeNs - alloc) : "") << ','
            << st->int64(7) << ',' << st->int64(11) << ',' << csvField(rec.phaseOf(st->int64(9))) << ','
            << csvField(rec.siteOf(st->int64(8)).label) << ',' << csvField(rec.stringAt(st->int64(10))) << "\r\n";
        ++stats.lines;
    }
    if (!st->status())
        return st->status().error();
    if (!out)
        return makeError(ErrorCode::Io, "writing CSV failed");
    return stats;
}

} // namespace tidemark::analysis
