// The allocation row's one list of values, shared by the bulk and the prepared-statement writers.
#include "trace/rows.h"

#include <array>

namespace tidemark::trace {

namespace {

constexpr size_t kColumns = 15;

std::optional<int64_t> apiValue(const std::optional<Api>& api)
{
    return api ? std::optional<int64_t>(static_cast<int64_t>(*api)) : std::nullopt;
}

// The values of a row in the order of kAllocationColumns.
std::array<std::optional<int64_t>, kColumns> valuesOf(const AllocationRow& r)
{
    return { r.space_id, r.process_id, r.thread_id, static_cast<int64_t>(r.api), r.address, r.size_bytes,
        r.alloc_ts_ns, r.free_ts_ns, apiValue(r.free_api), r.callsite_id, r.range_id, r.heap_id, r.stream,
        r.source_mask, r.name_id };
}

} // namespace

const std::vector<std::string> kAllocationColumns = { "space_id", "process_id", "thread_id", "api", "address",
    "size_bytes", "alloc_ts_ns", "free_ts_ns", "free_api", "callsite_id", "range_id", "heap_id", "stream",
    "source_mask", "name_id" };

void appendRow(RowBatch& batch, const AllocationRow& row)
{
    // One append per vector: the hottest path of the ingest.
    const auto values = valuesOf(row);
    int64_t plain[kColumns];
    uint8_t nulls[kColumns];
    for (size_t i = 0; i < kColumns; ++i) {
        plain[i] = values[i].value_or(0);
        nulls[i] = !values[i].has_value();
    }
    batch.beginRow();
    batch.values.insert(batch.values.end(), plain, plain + kColumns);
    batch.nulls.insert(batch.nulls.end(), nulls, nulls + kColumns);
}

void bindRow(Stmt& stmt, const AllocationRow& row)
{
    const auto values = valuesOf(row);
    for (size_t i = 0; i < kColumns; ++i)
        stmt.bind(static_cast<int>(i + 1), values[i]);
}

std::string insertSql(std::string_view table, const std::vector<std::string>& columns)
{
    std::string sql = "INSERT INTO " + std::string(table) + "(";
    std::string params;
    for (size_t i = 0; i < columns.size(); ++i) {
        sql += (i ? ", " : "") + columns[i];
        params += i ? ", ?" : "?";
    }
    return sql + ") VALUES (" + params + ")";
}

} // namespace tidemark::trace
