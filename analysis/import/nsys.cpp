// Nsight Systems SQLite export -> recording: the export's metadata, processes and threads (from the nsys
// global ids), NVTX ranges, kernels, copies and memsets. Columns are looked up by name first, so exports
// of different nsys versions (schema 2.x with EXPORT_META_DATA, 3.x with META_DATA_EXPORT) read alike.
#include "analysis/import/nsys_internal.h"
#include "trace/meta_keys.h"

namespace tidemark::import {

namespace {

Status loadSchema(NsysExport& x)
{
    auto tables = x.db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'");
    if (!tables)
        return tables.error();
    std::vector<std::string> names;
    while (tables->step())
        names.push_back(tables->text(0));
    if (!tables->status())
        return tables->status();
    for (const std::string& t : names) {
        auto cols = x.db.prepare("SELECT name FROM pragma_table_info(?)");
        if (!cols)
            return cols.error();
        cols->bind(1, t);
        auto& set = x.columns[t];
        while (cols->step())
            set.insert(cols->text(0));
    }
    if (x.has("StringIds")) {
        auto st = x.db.prepare("SELECT id, value FROM StringIds");
        if (!st)
            return st.error();
        while (st->step())
            x.strings[st->int64(0)] = st->text(1);
        if (!st->status())
            return st->status();
    }
    return okStatus();
}

void exportMeta(NsysExport& x)
{
    std::string version, schema;
    for (const char* table : { "META_DATA_EXPORT", "EXPORT_META_DATA" }) {
        if (!x.has(table))
            continue;
        auto st = x.db.prepare(std::string("SELECT name, value FROM ") + table);
        while (st && st->step()) {
            if (st->text(0) == "EXPORT_PRODUCT_VERSION")
                version = st->text(1);
            if (st->text(0) == "EXPORT_SCHEMA_VERSION")
                schema = st->text(1);
        }
    }
    x.out.meta(trace::kMetaSource, "import:nsys");
    x.out.meta(trace::kMetaProgram, x.ctx.inputName);
    x.out.meta(trace::kMetaNsysVersion, version.empty() ? "unknown" : version);
    x.out.meta(trace::kMetaNsysSchemaVersion, schema.empty() ? "unknown" : schema);
    std::string clock = "nsys session clock (ns)";
    if (x.has("TARGET_INFO_SESSION_START_TIME", "utcEpochNs")) {
        auto v = x.db.queryInt("SELECT utcEpochNs FROM TARGET_INFO_SESSION_START_TIME LIMIT 1");
        if (v)
            clock += "; session start = unix epoch " + std::to_string(*v) + " ns";
    }
    x.out.meta(trace::kMetaClock, clock);
    x.out.meta(trace::kMetaDescription,
        "Nsight Systems export " + x.ctx.inputName + " (nsys " + (version.empty() ? "?" : version) + ")");
    if (x.has("TARGET_INFO_GPU", "totalMemory")) {
        auto st = x.db.prepare("SELECT id, totalMemory FROM TARGET_INFO_GPU");
        while (st && st->step())
            if (!st->isNull(1) && st->int64(0) >= 0 && st->int64(0) < 1024)
                x.out.setCapacity(static_cast<int>(st->int64(0)), st->int64(1));
    }
    if (x.has("PROCESSES", "pid") && x.has("PROCESSES", "name")) {
        auto st = x.db.prepare("SELECT pid, name FROM PROCESSES");
        while (st && st->step())
            x.processNames[st->int64(0)] = st->text(1);
    }
    if (x.has("ThreadNames", "globalTid")) {
        auto st = x.db.prepare("SELECT globalTid, nameId FROM ThreadNames");
        while (st && st->step())
            x.threadNames[st->int64(0)] = x.str(st->int64(1));
    }
}

// NVTX: push/pop (59) and start/end (60) ranges per thread; marks (34); domain names from 75.
Status nvtx(NsysExport& x)
{
    if (!x.has("NVTX_EVENTS"))
        return okStatus();
    bool textId = x.has("NVTX_EVENTS", "textId");
    auto st = x.db.prepare(std::string("SELECT start, end, eventType, text, globalTid, domainId, category, color, ")
        + (textId ? "textId" : "NULL") + " FROM NVTX_EVENTS ORDER BY start");
    if (!st)
        return st.error();
    std::map<int64_t, std::string> domains;
    std::map<int64_t, std::vector<PendingRange>> byThread;
    while (st->step()) {
        int64_t type = st->int64(2);
        std::string text = st->isNull(3) && !st->isNull(8) ? x.str(st->int64(8)) : st->text(3);
        int64_t tid = x.thread(st->isNull(4) ? 0 : st->int64(4));
        if (type == 75) {
            domains[st->int64(5)] = text;
        } else if (type == 59 || type == 60) {
            PendingRange r { st->int64(0), st->isNull(1) ? std::nullopt : std::optional<int64_t>(st->int64(1)), text,
                type == 59 ? "push" : "startend", {}, {}, {} };
            if (!st->isNull(5) && st->int64(5) != 0 && domains.count(st->int64(5)))
                r.domainId = x.out.string(domains[st->int64(5)]);
            if (!st->isNull(6))
                r.category = st->int64(6);
            if (!st->isNull(7))
                r.color = st->int64(7);
            byThread[tid].push_back(std::move(r));
        } else if (type == 34) {
            x.out.mark(x.process(NsysExport::pidOf(st->isNull(4) ? 0 : st->int64(4))), st->int64(0), text);
        }
    }
    if (!st->status())
        return st->status();
    for (auto& [tid, list] : byThread)
        x.ranges[tid].insertAll(x.out, x.threadProcesses[tid], tid, std::move(list));
    return okStatus();
}

const char* copyKindName(int64_t kind)
{
    static const char* const kNames[] = { "unknown", "HtoD", "DtoH", "HtoA", "AtoH", "AtoA", "AtoD", "DtoA", "DtoD",
        "HtoH", "PtoP", "UVM HtoD", "UVM DtoH", "UVM DtoD" };
    return kind >= 0 && kind < static_cast<int64_t>(std::size(kNames)) ? kNames[kind] : "unknown";
}

std::string col(const NsysExport& x, const std::string& table, const std::string& column)
{
    return x.has(table, column) ? column : "NULL";
}

Status gpuActivity(NsysExport& x)
{
    const std::string k = "CUPTI_ACTIVITY_KIND_KERNEL";
    if (x.has(k)) {
        std::string name = x.has(k, "demangledName") ? "demangledName" : col(x, k, "shortName");
        auto st = x.db.prepare("SELECT start, end, deviceId, contextId, streamId, correlationId, " + col(x, k, "globalPid")
            + ", " + name + ", gridX, gridY, gridZ, blockX, blockY, blockZ, registersPerThread, staticSharedMemory,"
              " dynamicSharedMemory FROM " + k);
        if (!st)
            return st.error();
        while (st->step()) {
            int64_t pid = st->isNull(6) ? 0 : NsysExport::pidOf(st->int64(6));
            x.devicesOfPid[pid].insert(st->int64(2));
            x.out.kernel({ .process_id = x.process(pid),
                .device = st->int64(2),
                .context = st->int64(3),
                .stream = st->int64(4),
                .start_ts_ns = st->int64(0),
                .end_ts_ns = st->int64(1),
                .name_id = x.out.optString(x.str(st->int64(7))),
                .correlation_id = st->isNull(5) ? std::nullopt : std::optional<int64_t>(st->int64(5)),
                .grid_x = st->int64(8),
                .grid_y = st->int64(9),
                .grid_z = st->int64(10),
                .block_x = st->int64(11),
                .block_y = st->int64(12),
                .block_z = st->int64(13),
                .registers_per_thread = st->int64(14),
                .static_shared_bytes = st->int64(15),
                .dynamic_shared_bytes = st->int64(16) });
        }
        if (!st->status())
            return st->status();
    }
    for (const char* table : { "CUPTI_ACTIVITY_KIND_MEMCPY", "CUPTI_ACTIVITY_KIND_MEMSET" }) {
        if (!x.has(table))
            continue;
        bool memcpy = std::string(table).ends_with("MEMCPY");
        auto st = x.db.prepare("SELECT start, end, deviceId, contextId, streamId, correlationId, " + col(x, table, "globalPid")
            + ", bytes, " + (memcpy ? "copyKind" : col(x, table, "value")) + " FROM " + table);
        if (!st)
            return st.error();
        while (st->step()) {
            int64_t pid = st->isNull(6) ? 0 : NsysExport::pidOf(st->int64(6));
            x.devicesOfPid[pid].insert(st->int64(2));
            MemsetRow r { .process_id = x.process(pid),
                .device = st->int64(2),
                .context = st->int64(3),
                .stream = st->int64(4),
                .start_ts_ns = st->int64(0),
                .end_ts_ns = st->int64(1),
                .size_bytes = st->int64(7),
                .correlation_id = st->isNull(5) ? std::nullopt : std::optional<int64_t>(st->int64(5)) };
            if (memcpy) {
                x.out.copy(MemcpyRow { .process_id = r.process_id,
                    .device = r.device,
                    .context = r.context,
                    .stream = r.stream,
                    .start_ts_ns = r.start_ts_ns,
                    .end_ts_ns = r.end_ts_ns,
                    .size_bytes = r.size_bytes,
                    .copy_kind = copyKindName(st->int64(8)),
                    .correlation_id = r.correlation_id });
            } else {
                if (!st->isNull(8))
                    r.value = st->int64(8);
                x.out.copy(r);
            }
        }
        if (!st->status())
            return st->status();
    }
    return okStatus();
}

} // namespace

int64_t NsysExport::process(int64_t pid)
{
    auto it = processIds.find(pid);
    if (it != processIds.end())
        return it->second;
    auto name = processNames.find(pid);
    int64_t id = out.process(pid, std::nullopt, name == processNames.end() ? std::string_view() : name->second, {});
    processIds[pid] = id;
    return id;
}

int64_t NsysExport::thread(int64_t globalTid)
{
    int64_t pid = pidOf(globalTid);
    auto name = threadNames.find(globalTid);
    int64_t id = out.thread(process(pid), tidOf(globalTid), name == threadNames.end() ? std::string_view() : name->second);
    threadProcesses[id] = process(pid);
    return id;
}

Status importNsys(const std::string& path, RecordingWriter& out, const ImportContext& ctx)
{
    auto db = trace::Db::open(path, trace::Db::Mode::ReadOnly);
    if (!db)
        return inputSqliteError(path, db.error());
    NsysExport x(*db, out, ctx);
    const std::pair<const char*, Status (*)(NsysExport&)> stages[] = {
        { "reading tables", loadSchema },
        { "NVTX ranges", [](NsysExport& e) { exportMeta(e); return nvtx(e); } },
        { "GPU activity", gpuActivity },
        { "CUDA memory", nsysMemory },
    };
    double done = 0;
    for (const auto& [name, stage] : stages) {
        ctx.report(name, done / std::size(stages));
        if (auto s = stage(x); !s)
            return s.error().code == ErrorCode::Corrupt || s.error().message.starts_with("cannot prepare")
                ? inputSqliteError(path, s.error())
                : s.error();
        done += 1;
    }
    ctx.report("CUDA memory", 1.0);
    return out.status();
}

} // namespace tidemark::import
