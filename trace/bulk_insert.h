// Bulk INSERT of integer rows: rows are buffered in memory and written by one
// `INSERT INTO table(cols) SELECT c0, c1, ... FROM <feed>` per batch, where <feed> is an eponymous
// virtual table reading the buffer. SQLite then runs its own insert loop without a bind/step/reset
// round trip per row and column, which halves the cost of the largest tables. A column that holds
// one value in a whole batch is bound once as a parameter instead (or left out, when NULL is also
// its default): SQLite's cost per row is mostly per column it reads from the feed
// (docs/performance.md, "Capture").
#pragma once

#include "trace/sqlite.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace tidemark::trace {

// Rows of integers or NULLs, row-major, filled by one thread and written by another if need be.
struct RowBatch {
    std::vector<int64_t> values;
    std::vector<uint8_t> nulls; // one flag per value
    size_t rows = 0;

    void beginRow() { ++rows; }
    void value(int64_t v)
    {
        values.push_back(v);
        nulls.push_back(0);
    }
    void value(const std::optional<int64_t>& v) { v ? value(*v) : null(); }
    void null()
    {
        values.push_back(0);
        nulls.push_back(1);
    }
    void clear()
    {
        values.clear();
        nulls.clear();
        rows = 0;
    }
};

class BulkInsert {
public:
    // Registers the feed on `db` and prepares the INSERT; columns are those of `table`, all INTEGER.
    static Result<BulkInsert> create(Db& db, const std::string& table, const std::vector<std::string>& columns);

    BulkInsert() = default;
    BulkInsert(BulkInsert&& other) noexcept;
    BulkInsert& operator=(BulkInsert&& other) noexcept;
    BulkInsert(const BulkInsert&) = delete;
    BulkInsert& operator=(const BulkInsert&) = delete;
    ~BulkInsert();

    // Writes a batch (inside the caller's transaction); each row holds one value per column.
    Status insert(const RowBatch& batch);

    // The same through a batch of its own: beginRow(), then one value per column.
    void beginRow() { m_own.beginRow(); }
    void value(int64_t v) { m_own.value(v); }
    void value(const std::optional<int64_t>& v) { m_own.value(v); }
    void null() { m_own.null(); }
    size_t pendingRows() const { return m_own.rows; }
    // Writes the own batch and empties it.
    Status flush();

    struct State; // column layout and the batch being fed, shared with the virtual table's callbacks

    // Batches of fewer rows always read every column from the feed; at most kMaxStatements shapes of
    // INSERT (which columns are bound) are kept prepared.
    static constexpr size_t kMinRowsForFixed = 16;
    static constexpr size_t kMaxStatements = 16;

private:
    Db* m_db = nullptr;
    State* m_state = nullptr;
    RowBatch m_own;
};

} // namespace tidemark::trace
