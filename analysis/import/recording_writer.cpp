// RecordingWriter: the one place importers turn their rows into INSERTs (all inside one transaction, as
// bulk loading wants), with caches for strings, spaces, threads, frames and callsites.
#include "analysis/import/recording_writer.h"

#include "trace/recording.h"
#include "trace/space_names.h"

namespace tidemark::import {

namespace {
std::optional<std::string> optText(std::string_view text) // NULL for an empty text
{
    return text.empty() ? std::nullopt : std::optional<std::string>(text);
}

enum Slot {
    kMeta, kString, kSpace, kProcess, kThread, kThreadName, kFrame, kSymbol, kCallsite, kAllocation, kHeap,
    kRange, kKernel, kMemcpy, kMemset, kFailed, kSample, kMark, kStat, kCapacity, kProcessUpdate, kSlotCount
};
} // namespace

Result<std::unique_ptr<RecordingWriter>> RecordingWriter::create(const std::string& path)
{
    auto db = trace::createRecording(path, true);
    if (!db)
        return db.error();
    auto writer = std::make_unique<RecordingWriter>(std::move(*db));
    if (auto s = writer->m_db.exec("BEGIN"); !s)
        return s.error();
    writer->m_inTransaction = true;
    return writer;
}

RecordingWriter::RecordingWriter(trace::Db db)
    : m_db(std::move(db))
    , m_stmts(kSlotCount)
    , m_ready(kSlotCount, false)
{
}

RecordingWriter::~RecordingWriter()
{
    m_stmts.clear();
    if (m_inTransaction)
        (void)m_db.exec("ROLLBACK");
}

Status RecordingWriter::commit()
{
    if (!m_status)
        return m_status;
    m_stmts.clear();
    m_stmts.resize(kSlotCount);
    m_ready.assign(kSlotCount, false);
    if (auto s = m_db.exec("COMMIT"); !s)
        return s;
    m_inTransaction = false;
    return okStatus();
}

void RecordingWriter::fail(const Error& error)
{
    if (m_status)
        m_status = error;
}

trace::Stmt* RecordingWriter::prepared(int slot, const char* sql)
{
    if (!m_status)
        return nullptr;
    trace::Stmt& s = m_stmts[slot];
    if (!m_ready[slot]) {
        auto p = m_db.prepare(sql);
        if (!p) {
            fail(p.error());
            return nullptr;
        }
        s = std::move(*p);
        m_ready[slot] = true;
    }
    return &s;
}

int64_t RecordingWriter::runInsert(trace::Stmt* stmt)
{
    if (!stmt)
        return 0;
    if (auto s = stmt->run(); !s) {
        fail(s.error());
        return 0;
    }
    return m_db.lastInsertId();
}

void RecordingWriter::meta(std::string_view key, std::string_view value)
{
    auto* st = prepared(kMeta, "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)");
    if (st)
        runInsert(&st->bind(1, key).bind(2, value));
}

int64_t RecordingWriter::string(std::string_view value)
{
    std::string key(value);
    if (auto it = m_strings.find(key); it != m_strings.end())
        return it->second;
    int64_t id = insertRow(kString, trace::StringRow { .value = key });
    m_strings.emplace(std::move(key), id);
    return id;
}

int64_t RecordingWriter::namedSpace(SpaceKind kind, std::string_view name)
{
    std::string key(name);
    if (auto it = m_spaces.find(key); it != m_spaces.end())
        return it->second;
    std::optional<int64_t> device, parent;
    if (kind == SpaceKind::Device || kind == SpaceKind::Pool)
        if (auto d = trace::spaceDevice(name))
            device = *d;
    if (kind == SpaceKind::Pool && device)
        parent = deviceSpace(static_cast<int>(*device));
    int64_t id = insertRow(kSpace,
        trace::SpaceRow { .kind = std::string(spaceKindName(kind)), .device = device, .name = key, .parent_space_id = parent });
    m_spaces.emplace(std::move(key), id);
    return id;
}

int64_t RecordingWriter::deviceSpace(int device)
{
    return namedSpace(SpaceKind::Device, trace::spaceName(SpaceKind::Device, device));
}

int64_t RecordingWriter::poolSpace(int device)
{
    return namedSpace(SpaceKind::Pool, trace::spaceName(SpaceKind::Pool, device));
}

void RecordingWriter::setCapacity(int device, int64_t bytes)
{
    int64_t space = deviceSpace(device);
    auto* st = prepared(kCapacity, "UPDATE spaces SET capacity_bytes = ? WHERE id = ?");
    if (st)
        runInsert(&st->bind(1, bytes).bind(2, space));
}

int64_t RecordingWriter::process(int64_t pid, std::optional<int64_t> rank, std::string_view exe,
    std::string_view commandLine)
{
    return insertRow(kProcess,
        trace::ProcessRow { .pid = pid, .exe = optText(exe), .command_line = optText(commandLine), .rank = rank });
}

void RecordingWriter::updateProcess(int64_t id, int64_t pid, std::optional<int64_t> rank, std::string_view exe)
{
    auto* st = prepared(kProcessUpdate, "UPDATE processes SET pid = ?, rank = ?, exe = ? WHERE id = ?");
    if (!st)
        return;
    st->bind(1, pid).bind(2, rank);
    exe.empty() ? st->bindNull(3) : st->bind(3, exe);
    runInsert(&st->bind(4, id));
}

int64_t RecordingWriter::thread(int64_t processId, int64_t tid, std::string_view name)
{
    auto key = std::make_pair(processId, tid);
    auto it = m_threads.find(key);
    if (it == m_threads.end()) {
        int64_t id = insertRow(kThread, trace::ThreadRow { .process_id = processId, .tid = tid });
        if (!id)
            return 0;
        it = m_threads.emplace(key, id).first;
    }
    if (!name.empty()) {
        auto* st = prepared(kThreadName, "UPDATE threads SET name = ? WHERE id = ?");
        if (st)
            runInsert(&st->bind(1, name).bind(2, it->second));
    }
    return it->second;
}

// Frames have no module and no real pc: ip is the frame's own id, unique by construction.
int64_t RecordingWriter::frame(const SymbolicFrame& f)
{
    std::string key = f.function;
    key += '\0';
    key += f.file;
    key += '\0';
    key += std::to_string(f.line);
    if (auto it = m_frames.find(key); it != m_frames.end())
        return it->second;
    int64_t id = m_nextFrameId++;
    insertRow(kFrame, trace::FrameRow { .id = id, .ip = id });
    insertRow(kSymbol,
        trace::SymbolRow { .frame_id = id,
            .function_id = optString(f.function),
            .file_id = optString(f.file),
            .line = f.line > 0 ? std::optional<int64_t>(f.line) : std::nullopt });
    m_frames.emplace(std::move(key), id);
    return id;
}

std::optional<int64_t> RecordingWriter::callsite(const std::vector<SymbolicFrame>& innermostFirst)
{
    if (innermostFirst.empty() || !m_status)
        return std::nullopt;
    int64_t parent = 0;
    int depth = 0;
    for (auto it = innermostFirst.rbegin(); it != innermostFirst.rend(); ++it, ++depth) {
        int64_t fid = frame(*it);
        auto key = std::make_pair(parent, fid);
        auto found = m_callsites.find(key);
        if (found == m_callsites.end()) {
            int64_t id = insertRow(kCallsite,
                trace::CallsiteRow { .parent_id = parent ? std::optional<int64_t>(parent) : std::nullopt,
                    .frame_id = fid,
                    .depth = depth });
            if (!id)
                return std::nullopt;
            found = m_callsites.emplace(key, id).first;
        }
        parent = found->second;
    }
    return parent;
}

int64_t RecordingWriter::allocation(const AllocationRow& r)
{
    static const std::string sql = trace::insertSql("allocations", trace::kAllocationColumns);
    auto* st = prepared(kAllocation, sql.c_str());
    if (!st)
        return 0;
    AllocationRow row = r;
    row.source_mask = kSourceImport;
    trace::bindRow(*st, row);
    return runInsert(st);
}

int64_t RecordingWriter::heap(const HeapRow& r) { return insertRow(kHeap, r); }

int64_t RecordingWriter::range(const RangeRow& r) { return insertRow(kRange, r); }

void RecordingWriter::kernel(const KernelRow& r) { insertRow(kKernel, r); }

void RecordingWriter::copy(const MemcpyRow& r) { insertRow(kMemcpy, r); }

void RecordingWriter::copy(const MemsetRow& r) { insertRow(kMemset, r); }

void RecordingWriter::failed(const FailedRow& r) { insertRow(kFailed, r); }

void RecordingWriter::sample(const SampleRow& r) { insertRow(kSample, r); }

void RecordingWriter::mark(int64_t processId, int64_t tsNs, std::string_view name)
{
    insertRow(kMark, trace::MarkRow { .process_id = processId, .ts_ns = tsNs, .name_id = string(name) });
}

void RecordingWriter::stat(std::optional<int64_t> processId, std::string_view name, int64_t value,
    std::string_view detail)
{
    insertRow(kStat,
        trace::CaptureStatRow { .process_id = processId,
            .source = "import",
            .name = std::string(name),
            .value = value,
            .detail = optText(detail) });
}

} // namespace tidemark::import
