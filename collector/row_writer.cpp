// Prepared INSERTs for every table the collector fills, and the batched transactions around them.
#include "collector/row_writer.h"

namespace tidemark::collector {

namespace {
    // Big enough that commits cost nothing, small enough that WAL growth stays bounded.
    constexpr uint64_t kRowsPerTransaction = 200000;
    // Allocation rows per INSERT ... SELECT: large enough to amortise the statement, small enough to
    // stay in cache (15 values of 9 bytes each per row).
    constexpr size_t kAllocationBatch = 8192;
} // namespace

RowWriter::RowWriter(trace::Db& db)
    : m_db(db)
{
}

RowWriter::~RowWriter()
{
    if (m_inTransaction)
        (void)m_db.exec("ROLLBACK");
}

Status RowWriter::prepareAll()
{
    struct Entry {
        trace::Stmt* stmt;
        const char* sql;
    };
    const Entry entries[] = {
        { &processes,
            "INSERT INTO processes(id, pid, ppid, parent_id, exe, command_line, rank, host, start_ts_ns, end_ts_ns, "
            "end_reason) VALUES (?,?,?,?,?,?,?,?,?,?,?)" },
        { &threads, "INSERT INTO threads(id, process_id, tid, name, start_ts_ns, end_ts_ns) VALUES (?,?,?,?,?,?)" },
        { &modules,
            "INSERT INTO modules(id, process_id, path, build_id, load_bias, vaddr_start, vaddr_end, load_ts_ns, "
            "unload_ts_ns) VALUES (?,?,?,?,?,?,?,?,?)" },
        { &strings, "INSERT INTO strings(id, value) VALUES (?,?)" },
        { &frames, "INSERT INTO frames(id, module_id, ip, rel_pc) VALUES (?,?,?,?)" },
        { &callsites, "INSERT INTO callsites(id, parent_id, frame_id, depth) VALUES (?,?,?,?)" },
        { &spaces, "INSERT INTO spaces(id, kind, device, name, capacity_bytes, parent_space_id) VALUES (?,?,?,?,?,?)" },
        { &ranges,
            "INSERT INTO ranges(id, process_id, thread_id, parent_id, depth, kind, domain_id, name_id, category, "
            "color, "
            "start_ts_ns, end_ts_ns) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)" },
        { &marks, "INSERT INTO marks(id, process_id, thread_id, ts_ns, domain_id, name_id) VALUES (?,?,?,?,?,?)" },
        { &heaps,
            "INSERT INTO pool_heaps(id, space_id, process_id, address, size_bytes, usage, name_id, register_ts_ns, "
            "unregister_ts_ns, callsite_id, range_id) VALUES (?,?,?,?,?,?,?,?,?,?,?)" },
        { &failed,
            "INSERT INTO failed_allocations(id, space_id, process_id, thread_id, api, size_bytes, ts_ns, callsite_id, "
            "range_id, stream, error_code, error_name, device_free_bytes, device_total_bytes, live_bytes, "
            "source_mask) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)" },
        { &kernels,
            "INSERT INTO kernels(process_id, device, context, stream, start_ts_ns, end_ts_ns, name_id, "
            "correlation_id, grid_x, grid_y, grid_z, block_x, block_y, block_z, registers_per_thread, "
            "static_shared_bytes, dynamic_shared_bytes, source_mask) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)" },
        { &memcpys,
            "INSERT INTO memcpys(process_id, device, context, stream, start_ts_ns, end_ts_ns, size_bytes, copy_kind, "
            "correlation_id, source_mask) VALUES (?,?,?,?,?,?,?,?,?,?)" },
        { &memsets,
            "INSERT INTO memsets(process_id, device, context, stream, start_ts_ns, end_ts_ns, size_bytes, value, "
            "correlation_id, source_mask) VALUES (?,?,?,?,?,?,?,?,?,?)" },
        { &samples,
            "INSERT INTO samples(process_id, space_id, ts_ns, free_bytes, total_bytes, used_bytes, reserved_bytes) "
            "VALUES (?,?,?,?,?,?,?)" },
        { &stats, "INSERT OR REPLACE INTO capture_stats(process_id, source, name, value, detail) VALUES (?,?,?,?,?)" },
        { &symbols, "INSERT INTO symbols(frame_id, inline_depth, function_id, file_id, line) VALUES (?,?,?,?,?)" },
        { &addSourceMask, "UPDATE allocations SET source_mask = source_mask | ? WHERE id = ?" },
        { &extendFree, "UPDATE allocations SET free_ts_ns = max(free_ts_ns, ?) WHERE id = ?" },
        { &mergeFailed,
            "UPDATE failed_allocations SET source_mask = source_mask | ?1, api = coalesce(?2, api), "
            "error_code = coalesce(?3, error_code), error_name = coalesce(?4, error_name), "
            "device_free_bytes = coalesce(?5, device_free_bytes), device_total_bytes = coalesce(?6, "
            "device_total_bytes), callsite_id = coalesce(?7, callsite_id), range_id = coalesce(?8, range_id) "
            "WHERE id = ?9" },
    };
    for (const Entry& e : entries) {
        auto stmt = m_db.prepare(e.sql);
        if (!stmt)
            return stmt.error();
        *e.stmt = std::move(*stmt);
    }
    auto bulk = trace::BulkInsert::create(m_db, "allocations",
        { "space_id", "process_id", "thread_id", "api", "address", "size_bytes", "alloc_ts_ns", "free_ts_ns",
            "free_api", "callsite_id", "range_id", "heap_id", "stream", "source_mask", "name_id" });
    if (!bulk)
        return bulk.error();
    m_allocations = std::move(*bulk);
    auto maxId = m_db.queryInt("SELECT coalesce(max(id), 0) FROM allocations");
    if (!maxId)
        return maxId.error();
    m_nextAllocationId = *maxId + 1;
    return okStatus();
}

Status RowWriter::begin()
{
    if (auto s = prepareAll(); !s)
        return m_status = s;
    if (auto s = m_db.exec("BEGIN"); !s)
        return m_status = s;
    m_inTransaction = true;
    return okStatus();
}

int64_t RowWriter::allocation(const AllocationRow& r)
{
    if (!m_status.ok() || m_finished)
        return 0;
    trace::BulkInsert& b = m_allocations;
    b.beginRow();
    b.value(r.space);
    b.value(r.process);
    b.value(r.thread);
    b.value(r.api);
    b.value(r.address);
    b.value(r.size);
    b.value(r.alloc_ts);
    b.value(r.free_ts);
    b.value(r.free_api);
    b.value(r.callsite);
    b.value(r.range);
    b.value(r.heap);
    b.value(r.stream);
    b.value(r.source_mask);
    b.value(r.name);
    int64_t id = m_nextAllocationId++;
    if (b.pendingRows() >= kAllocationBatch)
        flushAllocations();
    return id;
}

void RowWriter::flushAllocations()
{
    uint64_t rows = m_allocations.pendingRows();
    if (rows == 0 || !m_status.ok())
        return;
    if (auto s = m_allocations.flush(); !s) {
        m_status = s;
        return;
    }
    if (m_db.lastInsertId() != m_nextAllocationId - 1) {
        m_status = makeError(ErrorCode::Corrupt,
            "allocation rows were given ids up to " + std::to_string(m_db.lastInsertId()) + " where "
                + std::to_string(m_nextAllocationId - 1) + " was expected");
        return;
    }
    countRows(rows);
}

void RowWriter::finishRow(trace::Stmt& stmt)
{
    if (auto s = stmt.run(); !s) {
        m_status = s;
        return;
    }
    countRows(1);
}

void RowWriter::countRows(uint64_t rows)
{
    m_rows += rows;
    m_rowsInTransaction += rows;
    if (m_rowsInTransaction >= kRowsPerTransaction) {
        m_rowsInTransaction = 0;
        if (auto s = m_db.exec("COMMIT"); !s) {
            m_inTransaction = false;
            m_status = s;
            return;
        }
        if (auto s = m_db.exec("BEGIN"); !s) {
            m_inTransaction = false;
            m_status = s;
        }
    }
}

Status RowWriter::finish()
{
    flushAllocations();
    if (m_inTransaction) {
        m_inTransaction = false;
        if (m_status.ok()) {
            if (auto s = m_db.exec("COMMIT"); !s)
                m_status = s;
        } else {
            (void)m_db.exec("ROLLBACK");
        }
    }
    m_finished = true;
    return m_status;
}

} // namespace tidemark::collector
