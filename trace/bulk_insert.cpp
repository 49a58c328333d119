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
    std::vector<int64_t> values; // rows * columns
    std::vector<uint8_t> nulls; // one flag per value
    size_t rows = 0;
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
        return reinterpret_cast<FeedCursor*>(cursor)->row >= stateOf(cursor)->rows;
    }

    int feedColumn(sqlite3_vtab_cursor* cursor, sqlite3_context* ctx, int column)
    {
        const BulkInsert::State* s = stateOf(cursor);
        size_t at = reinterpret_cast<FeedCursor*>(cursor)->row * s->columns + static_cast<size_t>(column);
        if (s->nulls[at])
            sqlite3_result_null(ctx);
        else
            sqlite3_result_int64(ctx, s->values[at]);
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

void BulkInsert::beginRow() { ++m_state->rows; }

void BulkInsert::value(int64_t v)
{
    m_state->values.push_back(v);
    m_state->nulls.push_back(0);
}

void BulkInsert::value(const std::optional<int64_t>& v)
{
    if (v)
        value(*v);
    else
        null();
}

void BulkInsert::null()
{
    m_state->values.push_back(0);
    m_state->nulls.push_back(1);
}

size_t BulkInsert::pendingRows() const { return m_state ? m_state->rows : 0; }
size_t BulkInsert::columnCount() const { return m_state ? m_state->columns : 0; }

Status BulkInsert::flush()
{
    if (!m_state || m_state->rows == 0)
        return okStatus();
    Status s = okStatus();
    if (m_state->values.size() != m_state->rows * m_state->columns)
        s = makeError(ErrorCode::Usage,
            "bulk insert of " + std::to_string(m_state->values.size()) + " values for "
                + std::to_string(m_state->rows) + " rows of " + std::to_string(m_state->columns) + " columns");
    else
        s = m_insert.run();
    m_state->values.clear();
    m_state->nulls.clear();
    m_state->rows = 0;
    return s;
}

} // namespace tidemark::trace
