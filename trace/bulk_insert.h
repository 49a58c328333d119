// Bulk INSERT of integer rows: rows are buffered in memory and written by one
// `INSERT INTO table(cols) SELECT * FROM <feed>` per batch, where <feed> is an eponymous virtual table
// reading the buffer. SQLite then runs its own insert loop without a bind/step/reset round trip per
// row and column, which halves the cost of the largest tables (docs/performance.md, "record").
#pragma once

#include "trace/sqlite.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace tidemark::trace {

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

    // Starts a row; then exactly columnCount() values, in column order.
    void beginRow();
    void value(int64_t v);
    void value(const std::optional<int64_t>& v);
    void null();

    size_t pendingRows() const;
    size_t columnCount() const;
    // Writes the buffered rows (inside the caller's transaction) and empties the buffer.
    Status flush();

    struct State; // buffer and column layout, shared with the virtual table's callbacks

private:
    State* m_state = nullptr;
    Stmt m_insert;
};

} // namespace tidemark::trace
