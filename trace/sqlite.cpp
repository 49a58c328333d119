// Implementation of the SQLite RAII wrapper (see sqlite.h).
#include "trace/sqlite.h"

#include <sqlite3.h>

#include <cstdio>

namespace tidemark::trace {

namespace {
ErrorCode codeFor(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_CORRUPT: return ErrorCode::Corrupt;
    case SQLITE_NOTADB: return ErrorCode::NotARecording;
    case SQLITE_CANTOPEN:
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_READONLY:
    case SQLITE_PERM: return ErrorCode::Io;
    case SQLITE_INTERRUPT: return ErrorCode::Cancelled;
    default: return ErrorCode::Corrupt;
    }
}
} // namespace

Error Db::lastError(std::string_view what) const
{
    int rc = m_db ? sqlite3_extended_errcode(m_db) : SQLITE_CANTOPEN;
    std::string msg(what);
    msg += ": ";
    msg += m_db ? sqlite3_errmsg(m_db) : "no database";
    return makeError(codeFor(rc), msg);
}

Result<Db> Db::open(const std::string& path, Mode mode)
{
    int flags = SQLITE_OPEN_NOMUTEX;
    switch (mode) {
    case Mode::ReadOnly:
    case Mode::Immutable: flags |= SQLITE_OPEN_READONLY; break;
    case Mode::ReadWrite: flags |= SQLITE_OPEN_READWRITE; break;
    case Mode::Create: flags |= SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE; break;
    }
    Db db;
    db.m_path = path;
    std::string name = path;
    if (mode == Mode::Immutable) {
        flags |= SQLITE_OPEN_URI;
        name = "file:";
        for (char c : path) { // a URI path: '%', '?' and '#' would start an escape, a query or a fragment
            if (c == '%' || c == '?' || c == '#') {
                char hex[4];
                std::snprintf(hex, sizeof hex, "%%%02X", static_cast<unsigned char>(c));
                name += hex;
            } else {
                name += c;
            }
        }
        name += "?immutable=1";
    }
    int rc = sqlite3_open_v2(name.c_str(), &db.m_db, flags, nullptr);
    if (rc != SQLITE_OK) {
        Error e = db.lastError("cannot open " + path);
        e.code = ErrorCode::Io;
        return e;
    }
    sqlite3_extended_result_codes(db.m_db, 1);
    sqlite3_busy_timeout(db.m_db, 5000);
    return db;
}

void Db::setBusyTimeout(int ms)
{
    if (m_db)
        sqlite3_busy_timeout(m_db, ms);
}

Db::Db(Db&& other) noexcept { *this = std::move(other); }

Db& Db::operator=(Db&& other) noexcept
{
    if (this != &other) {
        if (m_db)
            sqlite3_close_v2(m_db);
        m_db = other.m_db;
        m_path = std::move(other.m_path);
        other.m_db = nullptr;
    }
    return *this;
}

Db::~Db()
{
    if (m_db)
        sqlite3_close_v2(m_db);
}

Status Db::exec(std::string_view sql)
{
    std::string s(sql);
    char* err = nullptr;
    int rc = sqlite3_exec(m_db, s.c_str(), nullptr, nullptr, &err);
    if (rc != SQLITE_OK) {
        std::string msg = err ? err : sqlite3_errstr(rc);
        sqlite3_free(err);
        return makeError(codeFor(rc), "SQL failed: " + msg);
    }
    return okStatus();
}

Result<Stmt> Db::prepare(std::string_view sql)
{
    sqlite3_stmt* stmt = nullptr;
    int rc = sqlite3_prepare_v2(m_db, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr);
    if (rc != SQLITE_OK)
        return lastError("cannot prepare \"" + std::string(sql.substr(0, 80)) + "\"");
    return Stmt(stmt, this);
}

Result<int64_t> Db::queryInt(std::string_view sql)
{
    auto stmt = prepare(sql);
    if (!stmt)
        return stmt.error();
    if (!stmt->step()) {
        if (!stmt->status())
            return stmt->status().error();
        return makeError(ErrorCode::NotFound, "query returned no row: " + std::string(sql));
    }
    return stmt->int64(0);
}

int64_t Db::lastInsertId() const { return sqlite3_last_insert_rowid(m_db); }

Stmt::Stmt(Stmt&& other) noexcept { *this = std::move(other); }

Stmt& Stmt::operator=(Stmt&& other) noexcept
{
    if (this != &other) {
        if (m_stmt)
            sqlite3_finalize(m_stmt);
        m_stmt = other.m_stmt;
        m_db = other.m_db;
        m_status = other.m_status;
        other.m_stmt = nullptr;
    }
    return *this;
}

Stmt::~Stmt()
{
    if (m_stmt)
        sqlite3_finalize(m_stmt);
}

Stmt& Stmt::bind(int index, int64_t value)
{
    sqlite3_bind_int64(m_stmt, index, value);
    return *this;
}

Stmt& Stmt::bind(int index, double value)
{
    sqlite3_bind_double(m_stmt, index, value);
    return *this;
}

Stmt& Stmt::bind(int index, std::string_view text)
{
    sqlite3_bind_text(m_stmt, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
    return *this;
}

Stmt& Stmt::bindNull(int index)
{
    sqlite3_bind_null(m_stmt, index);
    return *this;
}

bool Stmt::step()
{
    int rc = sqlite3_step(m_stmt);
    if (rc == SQLITE_ROW)
        return true;
    if (rc != SQLITE_DONE && m_status.ok())
        m_status = m_db->lastError("query failed");
    return false;
}

Status Stmt::run()
{
    while (step()) { }
    Status s = m_status;
    reset();
    return s;
}

void Stmt::reset()
{
    sqlite3_reset(m_stmt);
    sqlite3_clear_bindings(m_stmt);
    m_status = okStatus();
}

int64_t Stmt::int64(int col) const { return sqlite3_column_int64(m_stmt, col); }
double Stmt::real(int col) const { return sqlite3_column_double(m_stmt, col); }
std::string Stmt::text(int col) const
{
    const unsigned char* t = sqlite3_column_text(m_stmt, col);
    return t ? std::string(reinterpret_cast<const char*>(t), sqlite3_column_bytes(m_stmt, col)) : std::string();
}
bool Stmt::isNull(int col) const { return sqlite3_column_type(m_stmt, col) == SQLITE_NULL; }
int Stmt::columnCount() const { return sqlite3_column_count(m_stmt); }
std::string Stmt::columnName(int col) const { return sqlite3_column_name(m_stmt, col); }

Transaction::Transaction(Db& db)
    : m_db(db)
{
    m_open = m_db.exec("BEGIN").ok();
}

Transaction::~Transaction()
{
    if (m_open)
        (void)m_db.exec("ROLLBACK");
}

Status Transaction::commit()
{
    if (!m_open)
        return makeError(ErrorCode::Io, "no open transaction");
    m_open = false;
    return m_db.exec("COMMIT");
}

} // namespace tidemark::trace
