// The bulk-insert feed (see bulk_insert.h): an eponymous, read-only virtual table over a buffer of
// integer rows, and the INSERT ... SELECT that drains it.
#include "trace/bulk_insert.h"

#include <sqlite3.h>

#include <algorithm>
#include <cstring>
#include <memory>

namespace tidemark::trace {

// Which columns of a batch are not read from the feed (bit i: column i): `fixed` held one value in
// the whole batch and are bound once; `omitted` (a subset) were NULL and are left to their default,
// which is NULL.
struct Shape {
    uint64_t fixed = 0, omitted = 0;
    bool operator==(const Shape&) const = default;
};

struct BulkInsert::State {
    std::string module; // also the virtual table's name
    std::string declaration; // CREATE TABLE x(c0, c1, ...)
    std::string table;
    std::vector<std::string> names;
    size_t columns = 0; // names.size()
    uint64_t nullDefault = 0; // columns whose default is NULL: omitted when NULL in a whole batch
    const RowBatch* feeding = nullptr; // during insert()
    sqlite3* db = nullptr;
    // The INSERT of each shape seen, the first the one reading every column from the feed.
    std::vector<std::pair<Shape, Stmt>> inserts;
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

    Result<Stmt> prepareInsert(Db& db, const BulkInsert::State& state, Shape shape)
    {
        std::string names, values;
        for (size_t i = 0; i < state.names.size(); ++i) {
            if (shape.omitted >> i & 1)
                continue;
            names += (names.empty() ? "" : ", ") + state.names[i];
            values += values.empty() ? " " : ", ";
            values += (shape.fixed >> i & 1) ? "?" + std::to_string(i + 1) : "c" + std::to_string(i);
        }
        return db.prepare("INSERT INTO " + state.table + "(" + names + ") SELECT" + values + " FROM " + state.module);
    }

    // The columns holding one value (or NULL) in every row of `batch`.
    uint64_t fixedColumns(const RowBatch& batch, size_t columns)
    {
        uint64_t fixed = columns >= 64 ? ~uint64_t(0) : (uint64_t(1) << columns) - 1;
        for (size_t r = 1; r < batch.rows && fixed; ++r) {
            const int64_t* v = &batch.values[r * columns];
            const uint8_t* n = &batch.nulls[r * columns];
            for (size_t c = 0; c < columns; ++c)
                if (v[c] != batch.values[c] || n[c] != batch.nulls[c])
                    fixed &= ~(uint64_t(1) << c);
        }
        return fixed;
    }

} // namespace

Result<BulkInsert> BulkInsert::create(Db& db, const std::string& table, const std::vector<std::string>& columns)
{
    if (columns.empty() || columns.size() > 64)
        return makeError(ErrorCode::Usage,
            "bulk insert into " + table + " of " + std::to_string(columns.size()) + " columns (1 to 64)");
    auto state = std::make_unique<State>();
    state->module = "tidemark_feed_" + table;
    state->table = table;
    state->names = columns;
    state->columns = columns.size();
    state->db = db.handle();
    state->declaration = "CREATE TABLE x(";
    for (size_t i = 0; i < columns.size(); ++i)
        state->declaration += (i ? ", c" : "c") + std::to_string(i);
    state->declaration += ")";
    auto info = db.prepare("SELECT name FROM pragma_table_info(?) WHERE dflt_value IS NULL");
    if (!info)
        return info.error();
    info->bind(1, table);
    while (info->step()) {
        auto at = std::find(columns.begin(), columns.end(), info->text(0));
        if (at != columns.end())
            state->nullDefault |= uint64_t(1) << (at - columns.begin());
    }
    if (sqlite3_create_module_v2(db.handle(), state->module.c_str(), &kFeedModule, state.get(), nullptr) != SQLITE_OK)
        return db.lastError("cannot register the bulk feed for " + table);
    auto insert = prepareInsert(db, *state, {});
    if (!insert) {
        sqlite3_create_module_v2(db.handle(), state->module.c_str(), nullptr, nullptr, nullptr);
        return insert.error();
    }
    state->inserts.emplace_back(Shape {}, std::move(*insert));
    BulkInsert b;
    b.m_db = &db;
    b.m_state = state.release();
    return b;
}

BulkInsert::BulkInsert(BulkInsert&& other) noexcept { *this = std::move(other); }

BulkInsert& BulkInsert::operator=(BulkInsert&& other) noexcept
{
    if (this != &other) {
        this->~BulkInsert();
        m_db = other.m_db;
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
    m_state->inserts.clear(); // the statements hold the virtual table; finalize them before dropping the module
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
    // A column with one value in the whole batch is bound once (or left out when NULL) instead of
    // read from the feed row by row: SQLite's cost per row is mostly per column it reads and copies
    // (docs/performance.md, "record").
    const size_t columns = m_state->columns;
    Shape shape;
    if (batch.rows >= kMinRowsForFixed) {
        shape.fixed = fixedColumns(batch, columns);
        for (size_t c = 0; c < columns; ++c)
            if ((shape.fixed >> c & 1) && batch.nulls[c])
                shape.omitted |= uint64_t(1) << c;
        shape.omitted &= m_state->nullDefault;
    }
    auto it = std::find_if(m_state->inserts.begin(), m_state->inserts.end(), [&](const auto& e) { return e.first == shape; });
    if (it == m_state->inserts.end()) {
        if (m_state->inserts.size() < kMaxStatements) {
            auto prepared = prepareInsert(*m_db, *m_state, shape);
            if (!prepared)
                return prepared.error();
            it = m_state->inserts.emplace(m_state->inserts.end(), shape, std::move(*prepared));
        } else {
            shape = {}; // an unusual mix: the statement reading every column
            it = m_state->inserts.begin();
        }
    }
    Stmt& insert = it->second;
    for (size_t c = 0; c < columns; ++c) {
        if (!(shape.fixed >> c & 1) || (shape.omitted >> c & 1))
            continue;
        if (batch.nulls[c])
            insert.bindNull(static_cast<int>(c + 1));
        else
            insert.bind(static_cast<int>(c + 1), batch.values[c]);
    }
    m_state->feeding = &batch;
    Status s = insert.run();
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
