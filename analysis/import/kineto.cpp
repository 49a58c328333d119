// Kineto / Chrome trace JSON -> recording. The text streams (a .json.gz is inflated as it is parsed)
// and traceEvents are handled one at a time (nlohmann's parser callback drops each event once read),
// so a large trace never exists whole, neither as text nor as a tree.
// [memory] events become lifetimes (paired by address per device) or, in old schemas without addresses,
// totals only; kernels, copies and memsets their own rows; user annotations nested ranges per thread.
#include "analysis/import/import_internal.h"
#include "analysis/import/input_bytes.h"
#include "analysis/import/kineto_memory.h"
#include "analysis/import/kineto_stacks.h"
#include "analysis/import/range_nesting.h"
#include "analysis/json_io.h"
#include "trace/meta_keys.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <functional>
#include <istream>
#include <iterator>
#include <map>

namespace tidemark::import {

namespace {

using json = nlohmann::json;

std::optional<int64_t> intArg(const json& args, const char* key)
{
    auto it = args.find(key);
    if (it == args.end())
        return std::nullopt;
    if (it->is_number_integer() || it->is_number_unsigned())
        return it->get<int64_t>();
    if (it->is_number_float())
        return static_cast<int64_t>(it->get<double>());
    return std::nullopt;
}

// Chrome trace tids are numbers, or strings such as "25738" and "stream 7" in old Kineto traces.
int64_t idOf(const json& v)
{
    if (v.is_number_integer() || v.is_number_unsigned())
        return v.get<int64_t>();
    if (v.is_string()) {
        const std::string& s = v.get_ref<const std::string&>();
        size_t p = s.find_last_not_of("0123456789");
        std::string digits = p == std::string::npos ? s : s.substr(p + 1);
        return digits.empty() || digits.size() > 18 ? 0 : std::stoll(digits);
    }
    return 0;
}

class TraceReader {
public:
    TraceReader(RecordingWriter& out, int64_t processId)
        : m_out(out)
        , m_processId(processId)
    {
    }

    void event(const json& e);
    void finish(const json& top, std::optional<int64_t> rankFallback);
    int64_t memoryEvents() const { return static_cast<int64_t>(m_memory.size()); }

private:
    static int64_t ns(double us) { return static_cast<int64_t>(std::llround(us * 1000.0)); }
    void metadata(const json& e);
    void complete(const json& e, const std::string& cat);
    void memory(const json& e);

    RecordingWriter& m_out;
    int64_t m_processId;
    std::map<int64_t, std::string> m_threadNames, m_processNames, m_processLabels;
    std::map<int64_t, int64_t> m_cpuPidVotes;
    std::map<int64_t, std::vector<PendingRange>> m_ranges; // by tid
    std::vector<KinetoMemoryEvent> m_memory;
    std::map<int64_t, std::vector<StackSpan>> m_spans; // operator and Python function spans by tid
    int64_t m_kernels = 0, m_copies = 0;
};

void TraceReader::metadata(const json& e)
{
    const std::string name = e.value("name", "");
    const json& args = e.contains("args") ? e["args"] : json::object();
    int64_t pid = e.contains("pid") ? idOf(e["pid"]) : 0;
    if (name == "thread_name" && args.contains("name") && args["name"].is_string())
        m_threadNames[e.contains("tid") ? idOf(e["tid"]) : 0] = args["name"].get<std::string>();
    else if (name == "process_name" && args.contains("name") && args["name"].is_string())
        m_processNames[pid] = args["name"].get<std::string>();
    else if (name == "process_labels" && args.contains("labels") && args["labels"].is_string())
        m_processLabels[pid] = args["labels"].get<std::string>();
}

void TraceReader::complete(const json& e, const std::string& cat)
{
    if (!e.contains("ts") || !e["ts"].is_number())
        return;
    double ts = e["ts"].get<double>();
    double dur = e.contains("dur") && e["dur"].is_number() ? e["dur"].get<double>() : 0.0;
    const json& args = e.contains("args") && e["args"].is_object() ? e["args"] : json::object();
    std::string name = e.value("name", "");
    if (cat == "kernel" || cat == "Kernel") {
        // "grid": [x, y, z] and "block": [x, y, z], each number when present.
        auto dim = [&](const char* key, int i) -> std::optional<int64_t> {
            if (args.contains(key) && args[key].is_array() && args[key].size() == 3 && args[key][i].is_number())
                return args[key][i].get<int64_t>();
            return std::nullopt;
        };
        m_out.kernel({ .process_id = m_processId,
            .device = intArg(args, "device"),
            .context = intArg(args, "context"),
            .stream = intArg(args, "stream"),
            .start_ts_ns = ns(ts),
            .end_ts_ns = ns(ts + dur),
            .name_id = m_out.optString(name),
            .correlation_id = intArg(args, "correlation"),
            .grid_x = dim("grid", 0),
            .grid_y = dim("grid", 1),
            .grid_z = dim("grid", 2),
            .block_x = dim("block", 0),
            .block_y = dim("block", 1),
            .block_z = dim("block", 2),
            .registers_per_thread = intArg(args, "registers per thread"),
            .dynamic_shared_bytes = intArg(args, "shared memory") });
        ++m_kernels;
    } else if (cat == "gpu_memcpy" || cat == "Memcpy" || cat == "gpu_memset" || cat == "Memset") {
        MemcpyRow c { .process_id = m_processId,
            .device = intArg(args, "device"),
            .context = intArg(args, "context"),
            .stream = intArg(args, "stream"),
            .start_ts_ns = ns(ts),
            .end_ts_ns = ns(ts + dur),
            .size_bytes = intArg(args, "bytes").value_or(0),
            .correlation_id = intArg(args, "correlation") };
        if (cat == "gpu_memcpy" || cat == "Memcpy") {
            // "Memcpy HtoD (Pageable -> Device)" -> "HtoD"
            std::string kind = name.rfind("Memcpy ", 0) == 0 ? name.substr(7, name.find(' ', 7) - 7) : "unknown";
            c.copy_kind = kind.empty() ? "unknown" : kind;
            m_out.copy(c);
        } else {
            m_out.copy(MemsetRow { .process_id = c.process_id,
                .device = c.device,
                .context = c.context,
                .stream = c.stream,
                .start_ts_ns = c.start_ts_ns,
                .end_ts_ns = c.end_ts_ns,
                .size_bytes = c.size_bytes,
                .correlation_id = c.correlation_id });
        }
        ++m_copies;
    } else if ((cat == "cpu_op" || cat == "Operator" || cat == "python_function") && name.rfind("ProfilerStep#", 0) != 0) {
        int64_t tid = e.contains("tid") ? idOf(e["tid"]) : 0;
        m_spans[tid].push_back({ ns(ts), ns(ts + dur), kinetoFrame(name) });
    } else if (cat == "user_annotation" || ((cat == "cpu_op" || cat == "Operator") && name.rfind("ProfilerStep#", 0) == 0)) {
        // Old traces record the profiler's steps as operators; they are the training iterations.
        int64_t tid = e.contains("tid") ? idOf(e["tid"]) : 0;
        m_ranges[tid].push_back({ ns(ts), ns(ts + dur), name, "import", {}, {}, {} });
        if (e.contains("pid"))
            ++m_cpuPidVotes[idOf(e["pid"])];
    }
}

void TraceReader::memory(const json& e)
{
    const json& args = e.contains("args") && e["args"].is_object() ? e["args"] : json::object();
    if (!e.contains("ts") || !e["ts"].is_number())
        return;
    KinetoMemoryEvent m;
    m.tsNs = ns(e["ts"].get<double>());
    m.tid = e.contains("tid") ? idOf(e["tid"]) : 0;
    m.deviceType = intArg(args, "Device Type").value_or(-1);
    m.deviceId = intArg(args, "Device Id").value_or(0);
    m.address = intArg(args, "Addr");
    m.bytes = intArg(args, "Bytes").value_or(0);
    m.totalAllocated = intArg(args, "Total Allocated");
    m.totalReserved = intArg(args, "Total Reserved");
    if (e.contains("pid"))
        ++m_cpuPidVotes[idOf(e["pid"])];
    m_memory.push_back(m);
}

void TraceReader::event(const json& e)
{
    if (!e.is_object())
        return;
    std::string ph = e.value("ph", "");
    if (ph == "M")
        metadata(e);
    else if (e.value("name", "") == "[memory]")
        memory(e);
    else if (ph == "X")
        complete(e, e.value("cat", ""));
}

void TraceReader::finish(const json& top, std::optional<int64_t> rankFallback)
{
    // The CPU process: the one labelled "CPU", else the pid that made the memory events / annotations.
    int64_t pid = 0, votes = -1;
    for (const auto& [p, label] : m_processLabels)
        if (label == "CPU")
            pid = p, votes = INT64_MAX;
    for (const auto& [p, v] : m_cpuPidVotes)
        if (v > votes)
            pid = p, votes = v;
    std::optional<int64_t> rank = rankFallback;
    if (top.contains("distributedInfo") && top["distributedInfo"].is_object())
        if (auto r = intArg(top["distributedInfo"], "rank"))
            rank = r;
    std::string exe = m_processNames.count(pid) ? m_processNames[pid] : "";
    m_out.updateProcess(m_processId, pid, rank, exe);
    if (top.contains("deviceProperties") && top["deviceProperties"].is_array())
        for (const json& d : top["deviceProperties"])
            if (d.is_object())
                if (auto id = intArg(d, "id"), mem = intArg(d, "totalGlobalMem"); id && mem && *id >= 0 && *id < 1024)
                    m_out.setCapacity(static_cast<int>(*id), *mem);

    attachStacks(m_spans, m_memory, m_out);
    m_spans.clear();
    std::map<int64_t, RangeTable> tables;
    for (auto& [tid, ranges] : m_ranges)
        tables[tid].insertAll(m_out, m_processId, m_out.thread(m_processId, tid, m_threadNames[tid]), std::move(ranges));
    writeKinetoMemory(m_memory, m_out, m_processId, [&](int64_t tid, int64_t ts) -> std::pair<int64_t, std::optional<int64_t>> {
        auto t = tables.find(tid);
        return { m_out.thread(m_processId, tid, m_threadNames[tid]), t == tables.end() ? std::nullopt : t->second.innermostAt(ts) };
    });
    m_out.stat(m_processId, "kineto.kernels", m_kernels);
    m_out.stat(m_processId, "kineto.copies_and_memsets", m_copies);
    m_out.stat(m_processId, "kineto.memory_events", static_cast<int64_t>(m_memory.size()));
}

// Parses one trace's JSON while streaming its events into reader: neither the text nor the events
// are held whole.
Status importOneTrace(InputStream text, RecordingWriter& out, const ImportContext& ctx, const std::string& name,
    std::optional<int64_t> rankFallback)
{
    int64_t processId = out.process(0, rankFallback, {}, {});
    TraceReader reader(out, processId);
    std::string topKey;
    bool topIsArray = false;
    size_t seen = 0;
    std::istream in(&text.stream);
    json top;
    try {
        top = json::parse(in, [&](int depth, json::parse_event_t ev, json& parsed) {
            analysis::checkJsonDepth(depth);
            if (depth == 0 && ev == json::parse_event_t::array_start)
                topIsArray = true;
            if (depth == 1 && ev == json::parse_event_t::key)
                topKey = parsed.get<std::string>();
            bool isEvent = ev == json::parse_event_t::object_end
                && ((topIsArray && depth == 1) || (!topIsArray && depth == 2 && topKey == "traceEvents"));
            if (!isEvent)
                return true;
            reader.event(parsed);
            if (++seen % 20000 == 0)
                ctx.report("reading trace events", std::min(1.0, text.fraction()));
            return false;
        });
    } catch (const analysis::JsonTooDeep& e) {
        return makeError(ErrorCode::Corrupt, name + ": not a trace: " + e.what() + " (traces nest a few levels)");
    } catch (const json::exception& e) {
        if (const Error* failed = text.failure())
            return makeError(failed->code, name + ": " + failed->message, failed->hint);
        return makeError(ErrorCode::Corrupt, name + ": JSON damaged or truncated: " + e.what(),
            "is the trace complete? A profiler killed while writing leaves a truncated file");
    }
    // The JSON may be whole while the gzip stream around it was cut short or damaged after it.
    if (const Error* e = text.failure())
        return makeError(e->code, name + ": " + e->message, e->hint);
    if (!top.is_object() && !top.is_array())
        return makeError(ErrorCode::Corrupt, name + ": not a trace (JSON without traceEvents)");
    if (top.is_object() && !top.contains("traceEvents") && seen == 0)
        return makeError(ErrorCode::Unsupported, name + ": JSON without traceEvents is not a Chrome/Kineto trace");
    if (top.is_array() && seen == 0)
        return makeError(ErrorCode::Unsupported, name + ": JSON array without trace events",
            "torch.profiler memory-timeline exports (export_memory_timeline) are not traces; import the profiler's trace instead");
    ctx.report("reading trace events", 1.0);
    ctx.report("pairing memory events", 0.0);
    reader.finish(top.is_object() ? top : json::object(), rankFallback);
    ctx.report("pairing memory events", 1.0);
    return out.status();
}

bool isTraceName(const std::string& name)
{
    std::string base = name.substr(name.find_last_of('/') + 1);
    if (base.starts_with("._") || base.starts_with("."))
        return false; // macOS resource forks and hidden files in archives
    return base.ends_with(".json") || base.ends_with(".json.gz");
}

// A bundle of ranks: every .json or .json.gz member of a tar archive, one trace per rank, each read
// from the archive's stream as it is parsed (a compressed member is held compressed, and inflated as
// it is parsed).
Status importRanks(InputStream archive, RecordingWriter& out, const ImportContext& ctx)
{
    TarReader tar(archive.stream);
    int64_t index = 0;
    for (;;) {
        auto name = tar.next();
        if (const Error* e = archive.failure())
            return *e; // the archive's own stream failed (damaged gzip, inflation bound)
        if (!name)
            return name.error();
        if (!*name) {
            // The archive's stream must end well too: a .tar.gz cut inside its gzip trailer, after
            // the tar's end blocks, is still a truncated file.
            for (char rest[4096]; archive.stream.sgetn(rest, sizeof rest) > 0;) { }
            if (const Error* e = archive.failure())
                return *e;
            break;
        }
        if (!isTraceName(**name))
            continue;
        ctx.report("importing ranks", std::min(1.0, archive.fraction()));
        Status s = okStatus();
        if (isGzip(tar.peek())) {
            InputStream member = tar.entry();
            std::string compressed(std::istreambuf_iterator<char>(&member.stream), {});
            if (const Error* e = archive.failure())
                return *e;
            if (const Error* e = member.failure())
                return *e;
            GunzipStreamBuf gz(compressed);
            s = importOneTrace(InputStream::of(gz), out, ctx, **name, index++);
        } else {
            s = importOneTrace(tar.entry(), out, ctx, **name, index++);
        }
        if (const Error* e = archive.failure())
            return *e;
        if (!s)
            return s;
    }
    if (index == 0)
        return makeError(ErrorCode::Unsupported, ctx.inputName + ": archive holds no .json trace");
    out.meta(trace::kMetaDescription, "Kineto traces of " + std::to_string(index) + " ranks from " + ctx.inputName);
    return out.status();
}

} // namespace

Status importKineto(std::string_view data, RecordingWriter& out, const ImportContext& ctx)
{
    out.meta(trace::kMetaSource, "import:kineto");
    out.meta(trace::kMetaProgram, ctx.inputName);
    out.meta(trace::kMetaClock,
        "the trace's own clock: ts (us) x 1000; epoch time in older Kineto traces, relative to "
        "baseTimeNanoseconds in newer ones");
    auto one = [&](InputStream text) {
        out.meta(trace::kMetaDescription, "Kineto / Chrome trace " + ctx.inputName);
        return importOneTrace(text, out, ctx, ctx.inputName, std::nullopt);
    };
    if (isGzip(data)) {
        GunzipStreamBuf gz(data); // a trace, or a bundle of ranks, inflated as it is parsed
        gz.sgetc();
        if (gz.error())
            return *gz.error();
        return isTar(gz.buffered()) ? importRanks(InputStream::of(gz), out, ctx) : one(InputStream::of(gz));
    }
    MemoryStreamBuf bytes(data);
    return isTar(data) ? importRanks(InputStream::of(bytes), out, ctx) : one(InputStream::of(bytes));
}

} // namespace tidemark::import
