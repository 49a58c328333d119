// Bulk row writer for ingest: one prepared INSERT per table, committed in large transactions, and
// a thread of its own that does all the SQLite work while the caller goes on pairing events (the
// two halves cost about the same, so the ingest takes the time of the slower one). Rows are encoded
// into buffers handed over in FIFO order; allocation lifetimes, the largest table by far, go as
// integer batches through trace::BulkInsert. The first SQLite error is kept and every later row is
// skipped, so callers check status() once.
#pragma once

#include "trace/bulk_insert.h"
#include "trace/rows.h"
#include "trace/sqlite.h"

#include <array>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <vector>

namespace tidemark::collector {

// 0 means "no such row" throughout the collector; the database stores NULL for it.
inline std::optional<int64_t> idOrNull(int64_t id)
{
    return id ? std::optional<int64_t>(id) : std::nullopt;
}
// Likewise an empty text.
inline std::optional<std::string> textOrNull(std::string_view text)
{
    return text.empty() ? std::nullopt : std::optional<std::string>(text);
}

class RowWriter {
public:
    explicit RowWriter(trace::Db& db);
    ~RowWriter();
    RowWriter(const RowWriter&) = delete;
    RowWriter& operator=(const RowWriter&) = delete;

    // Prepares the statements and opens the first transaction. Rows are written on the caller's
    // thread until threaded() starts the writing thread (the live ingest stays on one thread while
    // the program runs, so it only takes an idle core).
    Status begin();
    void threaded();
    // Waits until everything handed over is written; after it the caller may use the connection
    // itself until the next row.
    Status sync();
    // Writes what is left and commits; later rows are not accepted.
    Status finish();
    Status status() const;

    // The statements rows are written with (passed to row() by reference, never run directly).
    trace::Stmt processes, threads, modules, strings, frames, callsites, spaces, ranges, marks, heaps, failed, kernels,
        memcpys, memsets, samples, stats, addSourceMask, extendFree, mergeFailed, symbols;

    // One allocation lifetime (trace/rows.h). Returns the row's id. Ids follow the order rows are written (a lifetime is written when it
    // ends), so SQLite appends instead of seeking for each row; every batch checks SQLite agrees.
    int64_t allocation(const trace::AllocationRow& row);
    // Rows of the `series` table (trace::kSeriesColumns), written after everything handed over before.
    void seriesRows(trace::RowBatch&& rows);

    // A row of a described table (trace/rows.h), written with the statement prepared for it.
    template <typename Row> void tableRow(trace::Stmt& stmt, const Row& r)
    {
        std::apply([&](const auto&... value) { row(stmt, value...); }, r.values());
    }

    template <typename... Args> void row(trace::Stmt& stmt, const Args&... args)
    {
        if (m_finished)
            return;
        uint16_t index = statementIndex(stmt);
        if (&stmt == &addSourceMask || &stmt == &extendFree)
            submitAllocations(); // they update allocation rows that must be written first
        put(&index, sizeof(index));
        uint8_t count = sizeof...(Args);
        put(&count, sizeof(count));
        (encode(args), ...);
        if (m_rows.size() >= kRowBufferBytes)
            submitRows();
    }

private:
    static constexpr size_t kRowBufferBytes = 256 * 1024;
    enum Tag : uint8_t { kNull, kInt, kReal, kText };

    struct Command {
        std::vector<uint8_t> rows; // encoded rows, or
        trace::RowBatch allocations; // allocation rows, ids from first_id on, or
        int64_t first_id = 0;
        trace::RowBatch series; // series rows
    };

    void put(const void* p, size_t n)
    {
        const auto* b = static_cast<const uint8_t*>(p);
        m_rows.insert(m_rows.end(), b, b + n);
    }
    void encode(std::nullptr_t) { put(&kTagNull, 1); }
    void encode(std::string_view text)
    {
        put(&kTagText, 1);
        uint32_t n = static_cast<uint32_t>(text.size());
        put(&n, sizeof(n));
        put(text.data(), n);
    }
    void encode(const char* text) { encode(std::string_view(text)); }
    void encode(const std::string& text) { encode(std::string_view(text)); }
    template <typename T> void encode(const std::optional<T>& v) { v ? encode(*v) : encode(nullptr); }
    template <typename T> std::enable_if_t<std::is_arithmetic_v<T>> encode(T v)
    {
        if constexpr (std::is_floating_point_v<T>) {
            double d = static_cast<double>(v);
            put(&kTagReal, 1);
            put(&d, sizeof(d));
        } else {
            int64_t i = static_cast<int64_t>(v);
            put(&kTagInt, 1);
            put(&i, sizeof(i));
        }
    }

    uint16_t statementIndex(const trace::Stmt& stmt) const;
    void submitRows();
    void submitAllocations();
    void submit(Command&& c);
    Command spare();
    void writerLoop();
    Status execute(Command& c);
    Status executeRows(const std::vector<uint8_t>& rows);
    Status countRows(uint64_t rows);
    Status prepareAll();

    static constexpr uint8_t kTagNull = kNull, kTagInt = kInt, kTagReal = kReal, kTagText = kText;

    trace::Db& m_db;
    std::array<trace::Stmt*, 20> m_statements {};
    trace::BulkInsert m_allocationInsert, m_seriesInsert;

    // Producer side (the ingest thread).
    std::vector<uint8_t> m_rows;
    trace::RowBatch m_allocations;
    int64_t m_batchFirstId = 1;
    int64_t m_nextAllocationId = 1;
    bool m_finished = false;

    // Shared with the writing thread.
    mutable std::mutex m_mutex;
    std::condition_variable m_changed;
    std::deque<Command> m_queue;
    std::vector<Command> m_spare; // written commands, kept for their buffers (no page faults per batch)
    bool m_busy = false; // the writer is executing a command
    bool m_stop = false;
    Status m_status = okStatus();
    std::thread m_writer;

    // Writing thread only.
    bool m_inTransaction = false;
    uint64_t m_rowsInTransaction = 0;
};

} // namespace tidemark::collector
