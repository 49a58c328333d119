// A thin RAII wrapper over the SQLite C API: a connection, prepared statements and transactions,
// with errors returned as Result (SQLITE_CORRUPT / SQLITE_NOTADB mapped to typed codes).
#pragma once

#include "trace/result.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

struct sqlite3;
struct sqlite3_stmt;

namespace tidemark::trace {

class Db;

class Stmt {
public:
    Stmt() = default;
    Stmt(Stmt&& other) noexcept;
    Stmt& operator=(Stmt&& other) noexcept;
    Stmt(const Stmt&) = delete;
    Stmt& operator=(const Stmt&) = delete;
    ~Stmt();

    // Parameters are 1-based, as in SQLite.
    Stmt& bind(int index, int64_t value);
    Stmt& bind(int index, int value) { return bind(index, static_cast<int64_t>(value)); }
    Stmt& bind(int index, uint64_t value) { return bind(index, static_cast<int64_t>(value)); }
    Stmt& bind(int index, uint32_t value) { return bind(index, static_cast<int64_t>(value)); }
    Stmt& bind(int index, double value);
    Stmt& bind(int index, std::string_view text);
    Stmt& bind(int index, const char* text) { return bind(index, std::string_view(text)); }
    Stmt& bind(int index, const std::string& text) { return bind(index, std::string_view(text)); }
    Stmt& bindNull(int index);
    template<typename T>
    Stmt& bind(int index, const std::optional<T>& value)
    {
        return value ? bind(index, *value) : bindNull(index);
    }

    // step(): true = a row is available, false = done; errors are reported through status().
    bool step();
    // Runs to completion (for INSERT/UPDATE) and resets; returns the error if any.
    Status run();
    void reset();

    int64_t int64(int col) const;
    double real(int col) const;
    std::string text(int col) const;
    bool isNull(int col) const;
    int columnCount() const;
    std::string columnName(int col) const;

    // The first error seen by step()/run() since the last reset.
    const Status& status() const { return m_status; }

private:
    friend class Db;
    Stmt(sqlite3_stmt* stmt, Db* db)
        : m_stmt(stmt)
        , m_db(db)
    {
    }
    sqlite3_stmt* m_stmt = nullptr;
    Db* m_db = nullptr;
    Status m_status = okStatus();
};

class Db {
public:
    // Immutable: read-only, and SQLite assumes nobody changes the file (no locks, no -shm), for a
    // finished recording whose directory may be read-only.
    enum class Mode { ReadOnly, Immutable, ReadWrite, Create };
    static Result<Db> open(const std::string& path, Mode mode);

    Db() = default;
    Db(Db&& other) noexcept;
    Db& operator=(Db&& other) noexcept;
    Db(const Db&) = delete;
    Db& operator=(const Db&) = delete;
    ~Db();

    Status exec(std::string_view sql);
    Result<Stmt> prepare(std::string_view sql);
    // Single-value helpers for PRAGMAs and counts.
    Result<int64_t> queryInt(std::string_view sql);
    int64_t lastInsertId() const;
    // How long a statement waits for another connection's lock before SQLITE_BUSY (5 s at open).
    void setBusyTimeout(int ms);
    const std::string& path() const { return m_path; }
    sqlite3* handle() const { return m_db; }

    // Turns the last SQLite error into a typed Error.
    Error lastError(std::string_view what) const;

private:
    sqlite3* m_db = nullptr;
    std::string m_path;
};

// BEGIN on construction; COMMIT on commit(); ROLLBACK if destroyed uncommitted.
class Transaction {
public:
    explicit Transaction(Db& db);
    ~Transaction();
    Status commit();
    Transaction(const Transaction&) = delete;
    Transaction& operator=(const Transaction&) = delete;

private:
    Db& m_db;
    bool m_open = false;
};

} // namespace tidemark::trace
