// Pass 1 of a spool file, in file order: process identity, threads, modules, strings, stacks,
// capture counters, NVTX ranges and marks, and GPU activity. Also writes the process row at the end.
#include "collector/file_ingest.h"

#include <cstring>

namespace tidemark::collector {

using wire::Kind;

namespace {

    std::string_view tail(const void* record, size_t fixedBytes, size_t len)
    {
        return { reinterpret_cast<const char*>(record) + fixedBytes, len };
    }

    bool fits(const wire::RecordHeader& r, size_t fixedBytes, uint64_t len)
    {
        return fixedBytes + len <= r.size_bytes;
    }

    const char* memcpyKindName(uint8_t kind)
    {
        // CUpti_ActivityMemcpyKind values of cupti_activity.h.
        static const char* const kNames[]
            = { "unknown", "HtoD", "DtoH", "HtoA", "AtoH", "AtoA", "AtoD", "DtoA", "DtoD", "HtoH", "PtoP" };
        return kind < sizeof(kNames) / sizeof(kNames[0]) ? kNames[kind] : "unknown";
    }

} // namespace

FileIngest::FileIngest(IngestContext& ctx, SpoolFile& file, const ProcessPlan& plan)
    : m_ctx(ctx)
    , m_file(file)
    , m_plan(plan)
{
    m_hostSpace = m_ctx.spaces.get(SpaceKind::Host, 0);
}

bool isMemoryKind(Kind k)
{
    return k == Kind::HostAlloc || k == Kind::HostFree || k == Kind::Alloc || k == Kind::Free || k == Kind::AllocFailed
        || (k >= Kind::HeapRegister && k <= Kind::RegionName);
}

uint64_t FileIngest::step(bool final, const std::function<void(double)>& progress, uint64_t limit)
{
    if (!m_started) {
        m_started = true;
        m_lastTs = m_file.header().start_ts_ns;
    }
    // Pass 1 is about a third of the work; pass 2 reports per memory record.
    m_file.forEachInFileOrder([this](uint32_t tid, const wire::RecordHeader& r) { onFileOrder(tid, r); },
        [&](double f) {
            if (progress)
                progress(0.3 * f);
        });
    uint64_t done = 0;
    const double total = static_cast<double>(std::max<uint64_t>(1, m_memoryRecords - m_memoryDone));
    auto visit = [&](uint32_t tid, const wire::RecordHeader& r) {
        onTimeOrder(tid, r);
        ++m_memoryDone;
        if (progress && ++done % (1 << 18) == 0)
            progress(0.3 + 0.7 * std::min(1.0, static_cast<double>(done) / total));
    };
    if (!final) {
        // While the process runs, another thread's records up to a drain period old may still be in
        // its ring: the merge stays well behind the newest record (late ones are counted).
        const uint64_t lag = m_ctx.options.live_lag_ns;
        if (m_lastTs <= lag)
            return 0;
        return m_file.forEachByTime(isMemoryKind, visit, m_lastTs - lag, limit);
    }
    uint64_t visited = m_file.forEachByTime(isMemoryKind, visit);
    finishMetadata();
    finishMemory();
    finishPythonSymbols();
    finishProcess();
    if (progress)
        progress(1.0);
    return visited;
}

void FileIngest::seen(uint32_t tid, uint64_t ts)
{
    if (ts == 0)
        return;
    Thread& t = thread(tid);
    t.first_ts = std::min(t.first_ts, ts);
    t.last_ts = std::max(t.last_ts, ts);
    m_lastTs = std::max(m_lastTs, ts);
}

FileIngest::Thread& FileIngest::thread(uint32_t tid)
{
    // Records come in runs of one thread: the last one looked up is nearly always the one.
    if (m_lastThread && m_lastTid == tid)
        return *m_lastThread;
    auto [it, inserted] = m_threads.try_emplace(tid, Thread { m_ctx.next_thread });
    if (inserted)
        ++m_ctx.next_thread;
    m_lastTid = tid;
    m_lastThread = &it->second; // unordered_map nodes stay put
    return it->second;
}

int64_t FileIngest::threadOf(uint32_t tid) { return thread(tid).id; }

int64_t FileIngest::stringOf(uint32_t id) const
{
    auto it = m_stringIds.find(id);
    return it == m_stringIds.end() ? 0 : it->second;
}

int64_t FileIngest::rangeOf(uint32_t id) const
{
    auto it = m_rangeIds.find(id);
    return it == m_rangeIds.end() ? 0 : it->second.first;
}

void FileIngest::onFileOrder(uint32_t tid, const wire::RecordHeader& r)
{
    auto kind = static_cast<Kind>(r.kind);
    if ((kind >= Kind::HostAlloc && kind <= Kind::AllocFailed && kind != Kind::Sample)
        || (kind >= Kind::HeapRegister && kind <= Kind::RegionName))
        ++m_memoryRecords;
    threadOf(tid);
    seen(tid, SpoolFile::timestampOf(r));
    switch (static_cast<Kind>(r.kind)) {
    case Kind::ProcessInfo:
        onProcessInfo(recordAs<wire::ProcessInfoRecord>(r));
        break;
    case Kind::ProcessExit:
        m_exited = true;
        m_exitReason = recordAs<wire::ProcessExitRecord>(r).reason;
        m_exitTs = recordAs<wire::ProcessExitRecord>(r).ts_ns;
        break;
    case Kind::ThreadName: {
        const auto& t = recordAs<wire::ThreadNameRecord>(r);
        if (fits(r, sizeof(t), t.name_len)) {
            threadOf(t.tid);
            m_threads[t.tid].name = tail(&t, sizeof(t), t.name_len);
        }
        break;
    }
    case Kind::Module:
        onModule(recordAs<wire::ModuleRecord>(r));
        break;
    case Kind::ModuleUnload:
        m_modules.unload(recordAs<wire::ModuleUnloadRecord>(r).load_bias, recordAs<wire::ModuleUnloadRecord>(r).ts_ns);
        break;
    case Kind::String: {
        const auto& s = recordAs<wire::StringRecord>(r);
        if (fits(r, sizeof(s), s.len))
            m_stringIds[s.id] = m_ctx.strings.intern(tail(&s, sizeof(s), s.len), m_ctx.out);
        break;
    }
    case Kind::Stack: {
        const auto& s = recordAs<wire::StackRecord>(r);
        // A parent is an earlier stack, so its id is smaller (ids come from one counter): no cycles.
        if (s.shared > s.depth || (s.shared && (s.parent == 0 || s.parent >= s.id)) || !fits(r, sizeof(s), uint64_t(s.depth - s.shared) * 8))
            break;
        m_stacks[s.id] = { m_stackIps.size(), s.depth, s.shared, s.parent };
        const auto* ips = reinterpret_cast<const uint64_t*>(&s + 1);
        m_stackIps.insert(m_stackIps.end(), ips, ips + (s.depth - s.shared));
        break;
    }
    case Kind::PyFrame: {
        const auto& f = recordAs<wire::PyFrameRecord>(r);
        if (f.id != 0)
            m_pyFrames[f.id] = { f.function_id, f.file_id, f.line };
        break;
    }
    case Kind::Stat:
        onStat(recordAs<wire::StatRecord>(r));
        break;
    case Kind::RangeBegin:
        onRangeBegin(tid, recordAs<wire::RangeBeginRecord>(r));
        break;
    case Kind::RangeEnd:
        onRangeEnd(recordAs<wire::RangeEndRecord>(r));
        break;
    case Kind::Mark: {
        const auto& m = recordAs<wire::MarkRecord>(r);
        m_ctx.out.tableRow(m_ctx.out.marks,
            trace::MarkRow { .id = m_ctx.next_mark++,
                .process_id = m_plan.id,
                .thread_id = threadOf(tid),
                .ts_ns = static_cast<int64_t>(m.ts_ns),
                .domain_id = idOrNull(stringOf(m.domain_id)),
                .name_id = idOrNull(stringOf(m.name_id)) });
        break;
    }
    default:
        onActivity(r);
        break;
    }
}

void FileIngest::onProcessInfo(const wire::ProcessInfoRecord& r)
{
    if (!fits(r.h, sizeof(r), uint64_t(r.exe_len) + r.cmdline_len))
        return;
    m_exe = std::string(tail(&r, sizeof(r), r.exe_len));
    std::string cmd(tail(&r, sizeof(r) + r.exe_len, r.cmdline_len));
    while (!cmd.empty() && cmd.back() == '\0')
        cmd.pop_back();
    for (char& c : cmd)
        if (c == '\0')
            c = ' ';
    m_cmdline = std::move(cmd);
}

void FileIngest::onModule(const wire::ModuleRecord& r)
{
    if (!fits(r.h, sizeof(r), r.path_len))
        return;
    std::string path(tail(&r, sizeof(r), r.path_len));
    ModuleInfo m;
    m.id = m_ctx.next_module++;
    m.bias = r.load_bias;
    m.start = r.vaddr_start;
    m.end = r.vaddr_end;
    m.load_ts = r.ts_ns;
    size_t slash = path.rfind('/');
    std::string_view base
        = slash == std::string::npos ? std::string_view(path) : std::string_view(path).substr(slash + 1);
    m.drop_frames = m_ctx.options.drop_capture_frames && base == "libtidemark.so";
    m_modules.add(m);
    m_moduleRows.push_back({ m, { std::move(path), hexBytes(r.build_id, std::min<size_t>(r.build_id_len, 32)) } });
    m_ctx.moduleFiles[m.id] = m_moduleRows.back().second; // symbolization may start before the file ends
}

void FileIngest::onStat(const wire::StatRecord& r)
{
    if (!fits(r.h, sizeof(r), uint64_t(r.name_len) + r.detail_len))
        return;
    // Counters are cumulative, so the last value reported wins.
    m_stats[{ r.source, std::string(tail(&r, sizeof(r), r.name_len)) }]
        = { r.value, std::string(tail(&r, sizeof(r) + r.name_len, r.detail_len)) };
}

void FileIngest::onRangeBegin(uint32_t tid, const wire::RangeBeginRecord& r)
{
    OpenRange o {};
    o.id = m_ctx.next_range++;
    o.thread = threadOf(tid);
    auto parent = m_rangeIds.find(r.parent_id);
    o.parent = r.parent_id && parent != m_rangeIds.end() ? parent->second.first : 0;
    o.depth = o.parent ? parent->second.second + 1 : 0;
    o.domain = stringOf(r.domain_id);
    o.name = stringOf(r.name_id);
    o.category = r.category;
    o.color = r.color;
    o.kind = r.range_kind;
    o.start_ts = r.ts_ns;
    m_rangeIds[r.range_id] = { o.id, o.depth };
    if (auto early = m_earlyRangeEnds.find(r.range_id); early != m_earlyRangeEnds.end()) {
        writeRange(o, static_cast<int64_t>(early->second));
        m_earlyRangeEnds.erase(early);
    } else {
        m_openRanges[r.range_id] = o;
    }
}

void FileIngest::onRangeEnd(const wire::RangeEndRecord& r)
{
    auto it = m_openRanges.find(r.range_id);
    if (it == m_openRanges.end()) {
        m_earlyRangeEnds[r.range_id] = r.ts_ns; // a start/end range ended on a thread flushed earlier
        return;
    }
    writeRange(it->second, static_cast<int64_t>(r.ts_ns));
    m_openRanges.erase(it);
}

void FileIngest::writeRange(const OpenRange& o, std::optional<int64_t> end)
{
    const char* kind = o.kind == static_cast<uint8_t>(wire::RangeKind::Push) ? "push" : "startend";
    m_ctx.out.tableRow(m_ctx.out.ranges,
        trace::RangeRow { .id = o.id,
            .process_id = m_plan.id,
            .thread_id = idOrNull(o.thread),
            .parent_id = idOrNull(o.parent),
            .depth = o.depth,
            .kind = kind,
            .domain_id = idOrNull(o.domain),
            .name_id = idOrNull(o.name),
            .category = o.category,
            .color = o.color,
            .start_ts_ns = static_cast<int64_t>(o.start_ts),
            .end_ts_ns = end });
}

void FileIngest::onActivity(const wire::RecordHeader& r)
{
    RowWriter& out = m_ctx.out;
    const auto source = static_cast<int64_t>(kSourceCuptiActivity);
    switch (static_cast<Kind>(r.kind)) {
    case Kind::Kernel: {
        const auto& k = recordAs<wire::KernelRecord>(r);
        out.tableRow(out.kernels,
            trace::KernelRow { .process_id = m_plan.id,
                .device = k.device,
                .context = k.context,
                .stream = k.stream,
                .start_ts_ns = static_cast<int64_t>(k.start_ts_ns),
                .end_ts_ns = static_cast<int64_t>(k.end_ts_ns),
                .name_id = idOrNull(stringOf(k.name_id)),
                .correlation_id = k.correlation_id,
                .grid_x = k.grid[0],
                .grid_y = k.grid[1],
                .grid_z = k.grid[2],
                .block_x = k.block[0],
                .block_y = k.block[1],
                .block_z = k.block[2],
                .registers_per_thread = k.registers_per_thread,
                .static_shared_bytes = k.static_shared_bytes,
                .dynamic_shared_bytes = k.dynamic_shared_bytes,
                .source_mask = source });
        break;
    }
    case Kind::Memcpy: {
        const auto& m = recordAs<wire::MemcpyRecord>(r);
        out.tableRow(out.memcpys,
            trace::MemcpyRow { .process_id = m_plan.id,
                .device = m.device,
                .context = m.context,
                .stream = m.stream,
                .start_ts_ns = static_cast<int64_t>(m.start_ts_ns),
                .end_ts_ns = static_cast<int64_t>(m.end_ts_ns),
                .size_bytes = static_cast<int64_t>(m.bytes),
                .copy_kind = std::string(memcpyKindName(m.copy_kind)),
                .correlation_id = m.correlation_id,
                .source_mask = source });
        break;
    }
    case Kind::Memset: {
        const auto& m = recordAs<wire::MemsetRecord>(r);
        out.tableRow(out.memsets,
            trace::MemsetRow { .process_id = m_plan.id,
                .device = m.device,
                .context = m.context,
                .stream = m.stream,
                .start_ts_ns = static_cast<int64_t>(m.start_ts_ns),
                .end_ts_ns = static_cast<int64_t>(m.end_ts_ns),
                .size_bytes = static_cast<int64_t>(m.bytes),
                .value = m.value,
                .correlation_id = m.correlation_id,
                .source_mask = source });
        break;
    }
    case Kind::Sample: {
        const auto& s = recordAs<wire::SampleRecord>(r);
        int64_t space = m_ctx.spaces.get(static_cast<SpaceKind>(s.space_kind), s.device);
        m_ctx.spaces.noteCapacity(space, s.total_bytes);
        out.tableRow(out.samples,
            trace::SampleRow { .process_id = m_plan.id,
                .space_id = space,
                .ts_ns = static_cast<int64_t>(s.ts_ns),
                .free_bytes = static_cast<int64_t>(s.free_bytes),
                .total_bytes = static_cast<int64_t>(s.total_bytes) });
        break;
    }
    default:
        break; // memory records: pass 2
    }
}

void FileIngest::finishMetadata()
{
    for (auto& [info, text] : m_moduleRows) {
        // Unload times were learnt after the module record; take them from the map.
        for (const auto& m : m_modules.all())
            if (m.id == info.id)
                info.unload_ts = m.unload_ts;
        m_ctx.out.tableRow(m_ctx.out.modules,
            trace::ModuleRow { .id = info.id,
                .process_id = m_plan.id,
                .path = text.first,
                .build_id = textOrNull(text.second),
                .load_bias = static_cast<int64_t>(info.bias),
                .vaddr_start = static_cast<int64_t>(info.start),
                .vaddr_end = static_cast<int64_t>(info.end),
                .load_ts_ns = static_cast<int64_t>(info.load_ts),
                .unload_ts_ns = info.unload_ts == UINT64_MAX
                    ? std::nullopt
                    : std::optional<int64_t>(static_cast<int64_t>(info.unload_ts)) });
    }
    m_moduleRows.clear();
}

} // namespace tidemark::collector
