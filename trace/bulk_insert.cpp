// The bulk-insert feed (see bulk_insert.h): an eponymous, read-only virtual table over a buffer of
// integer rows, and the INSERT ... SELECT that drains it.
#include "trace/bulk_insert.h"

#include <sqlite3.h>

#include <cstring>
#include <memory>

namespace tidemark::trace {

struct BulkInsert::State {
    std::string module; // also the virtual table's name
    std::string declaration; // CREATE TABLE x(c0, c1, ...)
    size_t columns = 0;
    const RowBatch* feeding = nullptr; // during insert()
    sqlite3* db = nullptr;
};

namespace {

    struct FeedTable {
        sqlite3_vtab base;
        BulkInsert::State* state;
    };

    struct FeedCursor {
        sqlite3_vtab_cursor base;
        size_t row;
    };

    BulkInsert::State* stateOf(sqlite3_vtab_cursor* c) { return reinterpret_cast<FeedTable*>(c->pVtab)->state; }

    int feedConnect(sqlite3* db, void* aux, int, const char* const*, sqlite3_vtab** out, char**)
    {
        auto* state = static_cast<BulkInsert::State*>(aux);
        if (int rc = sqlite3_declare_vtab(db, state->declaration.c_str()); rc != SQLITE_OK)
            return rc;
        auto* table = static_cast<FeedTable*>(sqlite3_malloc(sizeof(FeedTable)));
        if (!table)
            return SQLITE_NOMEM;
        std::memset(table, 0, sizeof(*table));
        table->state = state;
        *out = &table->base;
        return SQLITE_OK;
    }

    int feedBestIndex(sqlite3_vtab*, sqlite3_index_info* info)
    {
        info->estimatedCost = 1e6; // one full scan in buffer order: the only plan
        return SQLITE_OK;
    }

    int feedDisconnect(sqlite3_vtab* table)
    {
        sqlite3_free(table);
        return SQLITE_OK;
    }

    int feedOpen(sqlite3_vtab*, sqlite3_vtab_cursor** out)
    {
        auto* cursor = static_cast<FeedCursor*>(sqlite3_malloc(sizeof(FeedCursor)));
        if (!cursor)
            return SQLITE_NOMEM;
        std::memset(cursor, 0, sizeof(*cursor));
        *out = &cursor->base;
        return SQLITE_OK;
    }

    int feedClose(sqlite3_vtab_cursor* cursor)
    {
        sqlite3_free(cursor);
        return SQLITE_OK;
    }

    int feedFilter(sqlite3_vtab_cursor* cursor, int, const char*, int, sqlite3_value**)
    {
        reinterpret_cast<FeedCursor*>(cursor)->row = 0;
        return SQLITE_OK;
    }

    int feedNext(sqlite3_vtab_cursor* cursor)
    {
        ++reinterpret_cast<FeedCursor*>(cursor)->row;
        return SQLITE_OK;
    }

    int feedEof(sqlite3_vtab_cursor* cursor)
    {
        const RowBatch* b = stateOf(cursor)->feeding;
        return !b || reinterpret_cast<FeedCursor*>(cursor)->row >= b->rows;
    }

    int feedColumn(sqlite3_vtab_cursor* cursor, sqlite3_context* ctx, int column)
    {
        const BulkInsert::State* s = stateOf(cursor);
        size_t at = reinterpret_cast<FeedCursor*>(cursor)->row * s->columns + static_cast<size_t>(column);
        if (s->feeding->nulls[at])
            sqlite3_result_null(ctx);
        else
            sqlite3_result_int64(ctx, s->feeding->values[at]);
        return SQLITE_OK;
    }

    int feedRowid(sqlite3_vtab_cursor* cursor, sqlite3_int64* rowid)
    {
        *rowid = static_cast<sqlite3_int64>(reinterpret_cast<FeedCursor*>(cursor)->row);
        return SQLITE_OK;
    }

    // Eponymous-only (no xCreate): the table exists under the module's name without a CREATE.
    const sqlite3_module kFeedModule = [] {
        sqlite3_module m {};
        m.xConnect = feedConnect;
        m.xBestIndex = feedBestIndex;
        m.xDisconnect = feedDisconnect;
        m.xOpen = feedOpen;
        m.xClose = feedClose;
        m.xFilter = feedFilter;
        m.xNext = feedNext;
        m.xEof = feedEof;
        m.xColumn = feedColumn;
        m.xRowid = feedRowid;
        return m;
    }();

} // namespace

Result<BulkInsert> BulkInsert::create(Db& db, const std::string& table, const std::vector<std::string>& columns)
{
    if (columns.empty())
        return makeError(ErrorCode::Usage, "bulk insert into " + table + " without columns");
    auto state = std::make_unique<State>();
    state->module = "tidemark_feed_" + table;
    state->columns = columns.size();
    state->db = db.handle();
    std::string names;
    state->declaration = "CREATE TABLE x(";
    for (size_t i = 0; i < columns.size(); ++i) {
        state->declaration += (i ? ", c" : "c") + std::to_string(i);
        names += (i ? ", " : "") + columns[i];
    }
    state->declaration += ")";
    if (sqlite3_create_module_v2(db.handle(), state->module.c_str(), &kFeedModule, state.get(), nullptr) != SQLITE_OK)
        return db.lastError("cannot register the bulk feed for " + table);
    auto insert = db.prepare("INSERT INTO " + table + "(" + names + ") SELECT * FROM " + state->module);
    if (!insert) {
        sqlite3_create_module_v2(db.handle(), state->module.c_str(), nullptr, nullptr, nullptr);
        return insert.error();
    }
    BulkInsert b;
    b.m_state = state.release();
    b.m_insert = std::move(*insert);
    return b;
}

BulkInsert::BulkInsert(BulkInsert&& other) noexcept { *this = std::move(other); }

BulkInsert& BulkInsert::operator=(BulkInsert&& other) noexcept
{
    if (this != &other) {
        this->~BulkInsert();
        m_insert = std::move(other.m_insert);
        m_state = other.m_state;
        m_own = std::move(other.m_own);
        other.m_state = nullptr;
    }
    return *this;
}

BulkInsert::~BulkInsert()
{
    if (!m_state)
        return;
    m_insert = Stmt(); // the statement holds the virtual table; finalize it before dropping the module
    sqlite3_create_module_v2(m_state->db, m_state->module.c_str(), nullptr, nullptr, nullptr);
    delete m_state;
    m_state = nullptr;
}

Status BulkInsert::insert(const RowBatch& batch)
{
    if (!m_state)
        return makeError(ErrorCode::Usage, "bulk insert without a table");
    if (batch.rows == 0)
        return okStatus();
    if (batch.values.size() != batch.rows * m_state->columns || batch.nulls.size() != batch.values.size())
        return makeError(ErrorCode::Usage,
            "bulk insert of " + std::to_string(batch.values.size()) + " values for " + std::to_string(batch.rows)
                + " rows of " + std::to_string(m_state->columns) + " columns");
    m_state->feeding = &batch;
    Status s = m_insert.run();
    m_state->feeding = nullptr;
    return s;
}

Status BulkInsert::flush()
{
    Status s = insert(m_own);
    m_own.clear();
    return s;
}

} // namespace tidemark::trace
