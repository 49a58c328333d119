// RowWriter (see row_writer.h): the prepared INSERTs, the hand-over queue and the writing thread
// that binds, steps and commits.
#include "collector/row_writer.h"

#include "trace/series.h"

#include <pthread.h>
#include <string>

namespace tidemark::collector {

namespace {
    // Big enough that commits cost nothing, small enough that WAL growth stays bounded.
    constexpr uint64_t kRowsPerTransaction = 200000;
    // Allocation rows per INSERT ... SELECT: large enough to amortise the statement, small enough to
    // stay in cache (15 values of 9 bytes each per row).
    constexpr size_t kAllocationBatch = 8192;
    // Commands waiting for the writer: bounds the memory when the producer is faster.
    constexpr size_t kMaxQueued = 8;
} // namespace

RowWriter::RowWriter(trace::Db& db)
    : m_db(db)
{
}

RowWriter::~RowWriter()
{
    if (m_writer.joinable()) {
        {
            std::lock_guard lock(m_mutex);
            m_stop = true;
            m_queue.clear();
        }
        m_changed.notify_all();
        m_writer.join();
    }
    if (m_inTransaction)
        (void)m_db.exec("ROLLBACK");
}

Status RowWriter::prepareAll()
{
    struct Entry {
        trace::Stmt* stmt;
        std::string sql;
    };
    const Entry entries[] = {
        { &processes, trace::insertSql<trace::ProcessRow>() },
        { &threads, trace::insertSql<trace::ThreadRow>() },
        { &modules, trace::insertSql<trace::ModuleRow>() },
        { &strings, trace::insertSql<trace::StringRow>() },
        { &frames, trace::insertSql<trace::FrameRow>() },
        { &callsites, trace::insertSql<trace::CallsiteRow>() },
        { &spaces, trace::insertSql<trace::SpaceRow>() },
        { &ranges, trace::insertSql<trace::RangeRow>() },
        { &marks, trace::insertSql<trace::MarkRow>() },
        { &heaps, trace::insertSql<trace::HeapRow>() },
        { &failed, trace::insertSql<trace::FailedAllocationRow>() },
        { &kernels, trace::insertSql<trace::KernelRow>() },
        { &memcpys, trace::insertSql<trace::MemcpyRow>() },
        { &memsets, trace::insertSql<trace::MemsetRow>() },
        { &samples, trace::insertSql<trace::SampleRow>() },
        { &stats, trace::insertSql<trace::CaptureStatRow>() },
        { &symbols, trace::insertSql<trace::SymbolRow>() },
        { &addSourceMask, "UPDATE allocations SET source_mask = source_mask | ? WHERE id = ?" },
        { &extendFree, "UPDATE allocations SET free_ts_ns = max(free_ts_ns, ?) WHERE id = ?" },
        { &mergeFailed,
            "UPDATE failed_allocations SET source_mask = source_mask | ?1, api = coalesce(?2, api), "
            "error_code = coalesce(?3, error_code), error_name = coalesce(?4, error_name), "
            "device_free_bytes = coalesce(?5, device_free_bytes), device_total_bytes = coalesce(?6, "
            "device_total_bytes), callsite_id = coalesce(?7, callsite_id), range_id = coalesce(?8, range_id) "
            "WHERE id = ?9" },
    };
    static_assert(std::size(entries) == std::tuple_size_v<decltype(m_statements)>);
    size_t i = 0;
    for (const Entry& e : entries) {
        auto stmt = m_db.prepare(e.sql);
        if (!stmt)
            return stmt.error();
        *e.stmt = std::move(*stmt);
        m_statements[i++] = e.stmt;
    }
    auto bulk = trace::BulkInsert::create(m_db, "allocations", trace::kAllocationColumns);
    if (!bulk)
        return bulk.error();
    m_allocationInsert = std::move(*bulk);
    auto series = trace::BulkInsert::create(m_db, "series", trace::kSeriesColumns);
    if (!series)
        return series.error();
    m_seriesInsert = std::move(*series);
    auto maxId = m_db.queryInt("SELECT coalesce(max(id), 0) FROM allocations");
    if (!maxId)
        return maxId.error();
    m_nextAllocationId = m_batchFirstId = *maxId + 1;
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

void RowWriter::threaded()
{
    if (!m_writer.joinable() && !m_finished)
        m_writer = std::thread([this] {
            pthread_setname_np(pthread_self(), "tidemark-write");
            writerLoop();
        });
}

uint16_t RowWriter::statementIndex(const trace::Stmt& stmt) const
{
    for (size_t i = 0; i < m_statements.size(); ++i)
        if (m_statements[i] == &stmt)
            return static_cast<uint16_t>(i);
    return UINT16_MAX; // not one of ours: reported by the writer
}

int64_t RowWriter::allocation(const trace::AllocationRow& r)
{
    if (m_finished)
        return 0;
    trace::appendRow(m_allocations, r);
    int64_t id = m_nextAllocationId++;
    if (m_allocations.rows >= kAllocationBatch)
        submitAllocations();
    return id;
}

void RowWriter::seriesRows(trace::RowBatch&& rows)
{
    if (m_finished || rows.rows == 0)
        return;
    submitAllocations();
    submitRows();
    Command c;
    c.series = std::move(rows);
    submit(std::move(c));
}

RowWriter::Command RowWriter::spare()
{
    std::lock_guard lock(m_mutex);
    if (m_spare.empty())
        return {};
    Command c = std::move(m_spare.back());
    m_spare.pop_back();
    return c;
}

void RowWriter::submitRows()
{
    if (m_rows.empty())
        return;
    Command c;
    c.rows.swap(m_rows);
    Command next = spare();
    m_rows.swap(next.rows);
    m_rows.clear();
    submit(std::move(c));
}

void RowWriter::submitAllocations()
{
    if (m_allocations.rows == 0)
        return;
    Command c;
    c.allocations = std::move(m_allocations);
    c.first_id = m_batchFirstId;
    m_allocations = std::move(spare().allocations);
    m_allocations.clear();
    m_batchFirstId = m_nextAllocationId;
    submit(std::move(c));
}

void RowWriter::submit(Command&& c)
{
    if (!m_writer.joinable()) {
        bool failed;
        {
            std::lock_guard lock(m_mutex);
            failed = !m_status.ok();
        }
        Status s = failed ? okStatus() : execute(c);
        std::lock_guard lock(m_mutex);
        if (!s && m_status.ok())
            m_status = s;
        return;
    }
    std::unique_lock lock(m_mutex);
    m_changed.wait(lock, [&] { return m_queue.size() < kMaxQueued || m_stop; });
    m_queue.push_back(std::move(c));
    lock.unlock();
    m_changed.notify_all();
}

void RowWriter::writerLoop()
{
    std::unique_lock lock(m_mutex);
    while (true) {
        m_changed.wait(lock, [&] { return !m_queue.empty() || m_stop; });
        if (m_queue.empty() && m_stop)
            return;
        Command c = std::move(m_queue.front());
        m_queue.pop_front();
        m_busy = true;
        bool failed = !m_status.ok();
        lock.unlock();
        m_changed.notify_all(); // room in the queue
        Status s = failed ? okStatus() : execute(c); // after an error the rest is dropped
        c.rows.clear();
        c.allocations.clear();
        c.series = {};
        lock.lock();
        if (!s && m_status.ok())
            m_status = s;
        if (m_spare.size() < kMaxQueued)
            m_spare.push_back(std::move(c));
        m_busy = false;
        m_changed.notify_all(); // for sync()
    }
}

Status RowWriter::execute(Command& c)
{
    if (!c.rows.empty())
        return executeRows(c.rows);
    if (c.series.rows > 0) {
        if (auto s = m_seriesInsert.insert(c.series); !s)
            return s;
        return countRows(c.series.rows);
    }
    if (auto s = m_allocationInsert.insert(c.allocations); !s)
        return s;
    int64_t last = c.first_id + static_cast<int64_t>(c.allocations.rows) - 1;
    if (m_db.lastInsertId() != last)
        return makeError(ErrorCode::Corrupt,
            "allocation rows were given ids up to " + std::to_string(m_db.lastInsertId()) + " where "
                + std::to_string(last) + " was expected");
    return countRows(c.allocations.rows);
}

Status RowWriter::executeRows(const std::vector<uint8_t>& rows)
{
    const uint8_t* p = rows.data();
    const uint8_t* end = p + rows.size();
    auto take = [&](void* out, size_t n) {
        std::memcpy(out, p, n);
        p += n;
    };
    while (p < end) {
        uint16_t index = 0;
        uint8_t count = 0;
        take(&index, sizeof(index));
        take(&count, sizeof(count));
        if (index >= m_statements.size())
            return makeError(ErrorCode::Usage, "a row for a statement the writer does not know");
        trace::Stmt& stmt = *m_statements[index];
        for (int i = 1; i <= count; ++i) {
            uint8_t tag = *p++;
            if (tag == kInt) {
                int64_t v = 0;
                take(&v, sizeof(v));
                stmt.bind(i, v);
            } else if (tag == kReal) {
                double v = 0;
                take(&v, sizeof(v));
                stmt.bind(i, v);
            } else if (tag == kText) {
                uint32_t n = 0;
                take(&n, sizeof(n));
                stmt.bind(i, std::string_view(reinterpret_cast<const char*>(p), n));
                p += n;
            } else {
                stmt.bindNull(i);
            }
        }
        if (auto s = stmt.run(); !s)
            return s;
        if (auto s = countRows(1); !s)
            return s;
    }
    return okStatus();
}

Status RowWriter::countRows(uint64_t rows)
{
    m_rowsInTransaction += rows;
    if (m_rowsInTransaction < kRowsPerTransaction)
        return okStatus();
    m_rowsInTransaction = 0;
    m_inTransaction = false;
    if (auto s = m_db.exec("COMMIT"); !s)
        return s;
    if (auto s = m_db.exec("BEGIN"); !s)
        return s;
    m_inTransaction = true;
    return okStatus();
}

Status RowWriter::sync()
{
    submitAllocations();
    submitRows();
    std::unique_lock lock(m_mutex);
    m_changed.wait(lock, [&] { return m_queue.empty() && !m_busy; });
    return m_status;
}

Status RowWriter::finish()
{
    if (m_finished)
        return status();
    Status s = sync();
    m_finished = true;
    if (m_writer.joinable()) {
        {
            std::lock_guard lock(m_mutex);
            m_stop = true;
        }
        m_changed.notify_all();
        m_writer.join();
    }
    if (m_inTransaction) {
        m_inTransaction = false;
        if (s.ok()) {
            if (auto c = m_db.exec("COMMIT"); !c) {
                std::lock_guard lock(m_mutex);
                m_status = c;
                return c;
            }
        } else {
            (void)m_db.exec("ROLLBACK");
        }
    }
    return s;
}

Status RowWriter::status() const
{
    std::lock_guard lock(m_mutex);
    return m_status;
}


} // namespace tidemark::collector
