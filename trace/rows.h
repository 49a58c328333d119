// The rows of `allocations`, the recording's largest table, described once for every writer (the
// collector, the importers, the test fixtures and the benchmark generator): the struct, its columns
// in the struct's order (as trace/schema/0001_initial.sql declares them, after `id`), and the one
// routine each way of writing turns a row into values with. Writers fill rows with designated
// initializers, so a value cannot land in its neighbour's column unnoticed.
#pragma once

#include "trace/bulk_insert.h"
#include "trace/enums.h"
#include "trace/sqlite.h"

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

namespace tidemark::trace {

struct AllocationRow {
    int64_t space_id = 0;
    int64_t process_id = 0;
    std::optional<int64_t> thread_id;
    Api api = Api::Unknown;
    int64_t address = 0;
    int64_t size_bytes = 0;
    int64_t alloc_ts_ns = 0;
    std::optional<int64_t> free_ts_ns; // none: still live when the recording ended
    std::optional<Api> free_api;
    std::optional<int64_t> callsite_id;
    std::optional<int64_t> range_id;
    std::optional<int64_t> heap_id;
    std::optional<int64_t> stream;
    int64_t source_mask = 0; // SourceBits
    std::optional<int64_t> name_id;
};

// The columns of AllocationRow, in its order.
extern const std::vector<std::string> kAllocationColumns;

// Appends one row of kAllocationColumns.size() values to a batch (trace::BulkInsert).
void appendRow(RowBatch& batch, const AllocationRow& row);
// Binds the row to parameters 1.. of a statement made by insertSql("allocations", kAllocationColumns).
void bindRow(Stmt& stmt, const AllocationRow& row);

// "INSERT INTO table(a, b) VALUES (?, ?)".
std::string insertSql(std::string_view table, const std::vector<std::string>& columns);

// The smaller tables both the collector and the importers write. Each row type has kTable, kColumns
// (the table's columns in its order, `id` first) and values(): the fields as bindable values, in that
// order. An unset `id` lets SQLite give the next one.
struct HeapRow {
    std::optional<int64_t> id;
    int64_t space_id = 0; // the pool space its regions belong to
    std::optional<int64_t> process_id;
    int64_t address = 0;
    int64_t size_bytes = 0;
    std::optional<std::string> usage; // sub_allocator | layout | torch_segment | ...
    std::optional<int64_t> name_id;
    int64_t register_ts_ns = 0;
    std::optional<int64_t> unregister_ts_ns;
    std::optional<int64_t> callsite_id;
    std::optional<int64_t> range_id;

    static constexpr std::string_view kTable = "pool_heaps";
    static constexpr std::array<std::string_view, 11> kColumns = { "id", "space_id", "process_id", "address",
        "size_bytes", "usage", "name_id", "register_ts_ns", "unregister_ts_ns", "callsite_id", "range_id" };
    auto values() const
    {
        return std::make_tuple(id, space_id, process_id, address, size_bytes, usage, name_id, register_ts_ns,
            unregister_ts_ns, callsite_id, range_id);
    }
};

struct RangeRow {
    std::optional<int64_t> id;
    int64_t process_id = 0;
    std::optional<int64_t> thread_id;
    std::optional<int64_t> parent_id;
    int64_t depth = 0;
    std::string kind = "import"; // push | startend | import
    std::optional<int64_t> domain_id;
    std::optional<int64_t> name_id;
    std::optional<int64_t> category;
    std::optional<int64_t> color;
    int64_t start_ts_ns = 0;
    std::optional<int64_t> end_ts_ns; // none: still open when the recording ended

    static constexpr std::string_view kTable = "ranges";
    static constexpr std::array<std::string_view, 12> kColumns = { "id", "process_id", "thread_id", "parent_id",
        "depth", "kind", "domain_id", "name_id", "category", "color", "start_ts_ns", "end_ts_ns" };
    auto values() const
    {
        return std::make_tuple(id, process_id, thread_id, parent_id, depth, kind, domain_id, name_id, category, color,
            start_ts_ns, end_ts_ns);
    }
};

struct FailedAllocationRow {
    std::optional<int64_t> id;
    int64_t space_id = 0;
    int64_t process_id = 0;
    std::optional<int64_t> thread_id;
    Api api = Api::Unknown;
    int64_t size_bytes = 0;
    int64_t ts_ns = 0;
    std::optional<int64_t> callsite_id;
    std::optional<int64_t> range_id;
    std::optional<int64_t> stream;
    std::optional<int64_t> error_code;
    std::optional<std::string> error_name;
    std::optional<int64_t> device_free_bytes; // cudaMemGetInfo at failure, when known
    std::optional<int64_t> device_total_bytes;
    std::optional<int64_t> live_bytes; // live in this space in this process at that moment
    int64_t source_mask = 0;

    static constexpr std::string_view kTable = "failed_allocations";
    static constexpr std::array<std::string_view, 16> kColumns = { "id", "space_id", "process_id", "thread_id", "api",
        "size_bytes", "ts_ns", "callsite_id", "range_id", "stream", "error_code", "error_name", "device_free_bytes",
        "device_total_bytes", "live_bytes", "source_mask" };
    auto values() const
    {
        return std::make_tuple(id, space_id, process_id, thread_id, static_cast<int64_t>(api), size_bytes, ts_ns,
            callsite_id, range_id, stream, error_code, error_name, device_free_bytes, device_total_bytes, live_bytes,
            source_mask);
    }
};

struct KernelRow {
    std::optional<int64_t> id;
    std::optional<int64_t> process_id, device, context, stream;
    int64_t start_ts_ns = 0, end_ts_ns = 0;
    std::optional<int64_t> name_id, correlation_id;
    std::optional<int64_t> grid_x, grid_y, grid_z, block_x, block_y, block_z;
    std::optional<int64_t> registers_per_thread, static_shared_bytes, dynamic_shared_bytes;
    int64_t source_mask = 0;

    static constexpr std::string_view kTable = "kernels";
    static constexpr std::array<std::string_view, 19> kColumns = { "id", "process_id", "device", "context", "stream",
        "start_ts_ns", "end_ts_ns", "name_id", "correlation_id", "grid_x", "grid_y", "grid_z", "block_x", "block_y",
        "block_z", "registers_per_thread", "static_shared_bytes", "dynamic_shared_bytes", "source_mask" };
    auto values() const
    {
        return std::make_tuple(id, process_id, device, context, stream, start_ts_ns, end_ts_ns, name_id,
            correlation_id, grid_x, grid_y, grid_z, block_x, block_y, block_z, registers_per_thread,
            static_shared_bytes, dynamic_shared_bytes, source_mask);
    }
};

struct MemcpyRow {
    std::optional<int64_t> id;
    std::optional<int64_t> process_id, device, context, stream;
    int64_t start_ts_ns = 0, end_ts_ns = 0, size_bytes = 0;
    std::optional<std::string> copy_kind; // HtoD | DtoH | DtoD | HtoH | PtoP | ...
    std::optional<int64_t> correlation_id;
    int64_t source_mask = 0;

    static constexpr std::string_view kTable = "memcpys";
    static constexpr std::array<std::string_view, 11> kColumns = { "id", "process_id", "device", "context", "stream",
        "start_ts_ns", "end_ts_ns", "size_bytes", "copy_kind", "correlation_id", "source_mask" };
    auto values() const
    {
        return std::make_tuple(id, process_id, device, context, stream, start_ts_ns, end_ts_ns, size_bytes, copy_kind,
            correlation_id, source_mask);
    }
};

struct MemsetRow {
    std::optional<int64_t> id;
    std::optional<int64_t> process_id, device, context, stream;
    int64_t start_ts_ns = 0, end_ts_ns = 0, size_bytes = 0;
    std::optional<int64_t> value, correlation_id;
    int64_t source_mask = 0;

    static constexpr std::string_view kTable = "memsets";
    static constexpr std::array<std::string_view, 11> kColumns = { "id", "process_id", "device", "context", "stream",
        "start_ts_ns", "end_ts_ns", "size_bytes", "value", "correlation_id", "source_mask" };
    auto values() const
    {
        return std::make_tuple(id, process_id, device, context, stream, start_ts_ns, end_ts_ns, size_bytes, value,
            correlation_id, source_mask);
    }
};

struct SampleRow {
    std::optional<int64_t> id;
    std::optional<int64_t> process_id;
    int64_t space_id = 0, ts_ns = 0;
    std::optional<int64_t> free_bytes, total_bytes;
    std::optional<int64_t> used_bytes;     // e.g. Kineto "Total Allocated"
    std::optional<int64_t> reserved_bytes; // e.g. Kineto "Total Reserved"

    static constexpr std::string_view kTable = "samples";
    static constexpr std::array<std::string_view, 8> kColumns = { "id", "process_id", "space_id", "ts_ns",
        "free_bytes", "total_bytes", "used_bytes", "reserved_bytes" };
    auto values() const
    {
        return std::make_tuple(
            id, process_id, space_id, ts_ns, free_bytes, total_bytes, used_bytes, reserved_bytes);
    }
};

// The tables of the run's structure: processes, threads, modules, the interned strings, the call-stack
// trie with its frames and symbols, the spaces, marks and the capture's counters.
struct StringRow {
    std::optional<int64_t> id;
    std::string value;

    static constexpr std::string_view kTable = "strings";
    static constexpr std::array<std::string_view, 2> kColumns = { "id", "value" };
    auto values() const { return std::make_tuple(id, value); }
};

struct ProcessRow {
    std::optional<int64_t> id;
    int64_t pid = 0;
    std::optional<int64_t> ppid;
    std::optional<int64_t> parent_id; // the recorded process that started it
    std::optional<std::string> exe, command_line;
    std::optional<int64_t> rank;
    std::optional<std::string> host;
    std::optional<int64_t> start_ts_ns, end_ts_ns;
    std::optional<std::string> end_reason; // exit | exec | cut_short | not_followed

    static constexpr std::string_view kTable = "processes";
    static constexpr std::array<std::string_view, 11> kColumns = { "id", "pid", "ppid", "parent_id", "exe",
        "command_line", "rank", "host", "start_ts_ns", "end_ts_ns", "end_reason" };
    auto values() const
    {
        return std::make_tuple(
            id, pid, ppid, parent_id, exe, command_line, rank, host, start_ts_ns, end_ts_ns, end_reason);
    }
};

struct ThreadRow {
    std::optional<int64_t> id;
    int64_t process_id = 0;
    int64_t tid = 0;
    std::optional<std::string> name; // the text, not a strings id
    std::optional<int64_t> start_ts_ns, end_ts_ns;

    static constexpr std::string_view kTable = "threads";
    static constexpr std::array<std::string_view, 6> kColumns = { "id", "process_id", "tid", "name", "start_ts_ns",
        "end_ts_ns" };
    auto values() const { return std::make_tuple(id, process_id, tid, name, start_ts_ns, end_ts_ns); }
};

struct ModuleRow {
    std::optional<int64_t> id;
    int64_t process_id = 0;
    std::string path;
    std::optional<std::string> build_id;
    int64_t load_bias = 0, vaddr_start = 0, vaddr_end = 0;
    std::optional<int64_t> load_ts_ns, unload_ts_ns; // none: loaded before the recording / never unloaded

    static constexpr std::string_view kTable = "modules";
    static constexpr std::array<std::string_view, 9> kColumns = { "id", "process_id", "path", "build_id",
        "load_bias", "vaddr_start", "vaddr_end", "load_ts_ns", "unload_ts_ns" };
    auto values() const
    {
        return std::make_tuple(
            id, process_id, path, build_id, load_bias, vaddr_start, vaddr_end, load_ts_ns, unload_ts_ns);
    }
};

struct FrameRow {
    std::optional<int64_t> id;
    std::optional<int64_t> module_id; // none: an address outside every known module, or a Python frame
    int64_t ip = 0;
    std::optional<int64_t> rel_pc;

    static constexpr std::string_view kTable = "frames";
    static constexpr std::array<std::string_view, 4> kColumns = { "id", "module_id", "ip", "rel_pc" };
    auto values() const { return std::make_tuple(id, module_id, ip, rel_pc); }
};

// symbols has no id: (frame_id, inline_depth) is its key.
struct SymbolRow {
    int64_t frame_id = 0;
    int64_t inline_depth = 0; // 0: the function the pc is in; 1..: inlined into it, outermost first
    std::optional<int64_t> function_id, file_id, line;

    static constexpr std::string_view kTable = "symbols";
    static constexpr std::array<std::string_view, 5> kColumns = { "frame_id", "inline_depth", "function_id",
        "file_id", "line" };
    auto values() const { return std::make_tuple(frame_id, inline_depth, function_id, file_id, line); }
};

struct CallsiteRow {
    std::optional<int64_t> id;
    std::optional<int64_t> parent_id; // none: an outermost frame
    int64_t frame_id = 0;
    int64_t depth = 0;

    static constexpr std::string_view kTable = "callsites";
    static constexpr std::array<std::string_view, 4> kColumns = { "id", "parent_id", "frame_id", "depth" };
    auto values() const { return std::make_tuple(id, parent_id, frame_id, depth); }
};

struct SpaceRow {
    std::optional<int64_t> id;
    std::string kind; // host | device | pinned | managed | pool
    std::optional<int64_t> device;
    std::string name; // trace/space_names.h
    std::optional<int64_t> capacity_bytes;
    std::optional<int64_t> parent_space_id; // a pool: the space its heaps live in

    static constexpr std::string_view kTable = "spaces";
    static constexpr std::array<std::string_view, 6> kColumns = { "id", "kind", "device", "name", "capacity_bytes",
        "parent_space_id" };
    auto values() const { return std::make_tuple(id, kind, device, name, capacity_bytes, parent_space_id); }
};

struct MarkRow {
    std::optional<int64_t> id;
    int64_t process_id = 0;
    std::optional<int64_t> thread_id;
    int64_t ts_ns = 0;
    std::optional<int64_t> domain_id, name_id;

    static constexpr std::string_view kTable = "marks";
    static constexpr std::array<std::string_view, 6> kColumns = { "id", "process_id", "thread_id", "ts_ns",
        "domain_id", "name_id" };
    auto values() const { return std::make_tuple(id, process_id, thread_id, ts_ns, domain_id, name_id); }
};

// capture_stats is keyed by (process_id, source, name); a later value of a counter replaces the earlier.
struct CaptureStatRow {
    std::optional<int64_t> process_id; // none: the collector's own, for the whole recording
    std::string source;                // preload | cupti | nvtx | collector | import
    std::string name;
    std::optional<int64_t> value;
    std::optional<std::string> detail;

    static constexpr std::string_view kTable = "capture_stats";
    static constexpr std::array<std::string_view, 5> kColumns = { "process_id", "source", "name", "value", "detail" };
    static constexpr bool kReplace = true;
    auto values() const { return std::make_tuple(process_id, source, name, value, detail); }
};

// The INSERT of a row type, its columns named ("INSERT OR REPLACE" for a table whose rows replace).
template <typename Row> std::string insertSql()
{
    static_assert(std::tuple_size_v<decltype(std::declval<const Row&>().values())> == Row::kColumns.size(),
        "a value for every column");
    std::string sql = insertSql(Row::kTable, std::vector<std::string>(Row::kColumns.begin(), Row::kColumns.end()));
    if constexpr (requires { Row::kReplace; })
        sql.replace(0, 6, "INSERT OR REPLACE");
    return sql;
}

// Binds a row to the parameters of insertSql<Row>().
template <typename Row> void bindRow(Stmt& stmt, const Row& row)
{
    int index = 1;
    std::apply([&](const auto&... value) { (stmt.bind(index++, value), ...); }, row.values());
}

// Writes one row with a statement of its own: for fixtures and tools that write a few rows.
template <typename Row> Status insertRow(Db& db, const Row& row)
{
    auto st = db.prepare(insertSql<Row>());
    if (!st)
        return st.error();
    bindRow(*st, row);
    return st->run();
}

} // namespace tidemark::trace
