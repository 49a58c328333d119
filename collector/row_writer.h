// Bulk row writer for ingest: one prepared INSERT per table, rows bound by position, committed in
// large transactions (SQLite reaches 1-2 M rows/s only this way, see reference/perf-anchors.md).
// The first SQLite error is kept and every later row is skipped, so callers check status() once.
#pragma once

#include "trace/bulk_insert.h"
#include "trace/sqlite.h"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace tidemark::collector {

// 0 means "no such row" throughout the collector; the database stores NULL for it.
inline std::optional<int64_t> idOrNull(int64_t id)
{
    return id ? std::optional<int64_t>(id) : std::nullopt;
}

class RowWriter {
public:
    explicit RowWriter(trace::Db& db);
    ~RowWriter();
    RowWriter(const RowWriter&) = delete;
    RowWriter& operator=(const RowWriter&) = delete;

    // Prepares the statements and opens the first transaction.
    Status begin();
    // Commits what is left; later rows are not accepted.
    Status finish();
    const Status& status() const { return m_status; }
    uint64_t rowsWritten() const { return m_rows; }

    trace::Stmt processes, threads, modules, strings, frames, callsites, spaces, ranges, marks, heaps, failed, kernels, memcpys, memsets, samples, stats, addSourceMask, extendFree, mergeFailed, symbols;

    // One allocation lifetime (the largest table by far): buffered and written in batches.
    struct AllocationRow {
        int64_t space, process;
        std::optional<int64_t> thread;
        int64_t api, address, size, alloc_ts;
        std::optional<int64_t> free_ts, free_api, callsite, range, heap, stream;
        int64_t source_mask;
        std::optional<int64_t> name;
    };
    // Returns the row's id. Ids follow the order rows are written (a lifetime is written when it
    // ends), so SQLite appends instead of seeking for each row; every flush checks SQLite agrees.
    int64_t allocation(const AllocationRow& row);

    template <typename... Args> void row(trace::Stmt& stmt, const Args&... args)
    {
        if (!m_status.ok() || m_finished)
            return;
        if (&stmt == &addSourceMask || &stmt == &extendFree)
            flushAllocations(); // they update allocation rows that may still be in the buffer
        int index = 0;
        (bindOne(stmt, ++index, args), ...);
        finishRow(stmt);
    }

private:
    static void bindOne(trace::Stmt& stmt, int index, std::nullptr_t) { stmt.bindNull(index); }
    template <typename T> static void bindOne(trace::Stmt& stmt, int index, const T& value) { stmt.bind(index, value); }
    void finishRow(trace::Stmt& stmt);
    void countRows(uint64_t rows);
    void flushAllocations();
    Status prepareAll();

    trace::Db& m_db;
    trace::BulkInsert m_allocations;
    int64_t m_nextAllocationId = 1;
    Status m_status = okStatus();
    bool m_inTransaction = false;
    bool m_finished = false;
    uint64_t m_rows = 0;
    uint64_t m_rowsInTransaction = 0;
};

} // namespace tidemark::collector
