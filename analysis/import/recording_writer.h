// Writes imported data into a new recording: cached prepared statements, interned strings, spaces,
// processes and threads, a frame/callsite trie built from symbolic stack frames, and one insert per row
// kind. Errors are sticky: the first failure is kept and every later call becomes a no-op, so importers
// stay readable and check status() once per stage.
#pragma once

#include "trace/enums.h"
#include "trace/result.h"
#include "trace/rows.h"
#include "trace/sqlite.h"

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace tidemark::import {

// One symbolic frame as other tools store it (no instruction pointer, no module).
struct SymbolicFrame {
    std::string function;
    std::string file;
    int64_t line = 0;
};

// One allocation lifetime: trace/rows.h (source_mask is set to kSourceImport by the writer).
using trace::AllocationRow;

using trace::HeapRow;

using trace::RangeRow;

using trace::KernelRow; // source_mask: the writer sets kSourceImport (so for the rows below)

using trace::MemcpyRow;
using trace::MemsetRow;

using FailedRow = trace::FailedAllocationRow; // source_mask: the writer sets kSourceImport

using trace::SampleRow;

class RecordingWriter {
public:
    // Creates the recording (replacing any file at path) and opens one transaction for the load.
    static Result<std::unique_ptr<RecordingWriter>> create(const std::string& path);

    explicit RecordingWriter(trace::Db db);
    RecordingWriter(const RecordingWriter&) = delete;
    RecordingWriter& operator=(const RecordingWriter&) = delete;
    ~RecordingWriter();

    const Status& status() const { return m_status; }
    trace::Db& db() { return m_db; }
    // Commits the load transaction; the caller finalizes afterwards.
    Status commit();

    void meta(std::string_view key, std::string_view value);
    int64_t string(std::string_view value);
    std::optional<int64_t> optString(std::string_view value) // NULL for an empty string
    {
        return value.empty() ? std::nullopt : std::optional<int64_t>(string(value));
    }

    // Spaces are created on first use, named by trace::spaceName: "cuda:N", "pool:cuda:N" (parent cuda:N), "host",
    // "pinned", "managed".
    int64_t deviceSpace(int device);
    int64_t poolSpace(int device);
    int64_t namedSpace(SpaceKind kind, std::string_view name);
    void setCapacity(int device, int64_t bytes);

    int64_t process(int64_t pid, std::optional<int64_t> rank, std::string_view exe, std::string_view commandLine);
    void updateProcess(int64_t id, int64_t pid, std::optional<int64_t> rank, std::string_view exe);
    // One row per (process, tid); the name is set when first known.
    int64_t thread(int64_t processId, int64_t tid, std::string_view name = {});

    // Interns a stack given innermost first (as PyTorch and nsys list them); returns the leaf callsite.
    std::optional<int64_t> callsite(const std::vector<SymbolicFrame>& innermostFirst);

    int64_t allocation(const AllocationRow& row);
    int64_t heap(const HeapRow& row);
    int64_t range(const RangeRow& row);
    void kernel(const KernelRow& row);
    void copy(const MemcpyRow& row);
    void copy(const MemsetRow& row);
    void failed(const FailedRow& row);
    void sample(const SampleRow& row);
    void mark(int64_t processId, int64_t tsNs, std::string_view name);
    void stat(std::optional<int64_t> processId, std::string_view name, int64_t value, std::string_view detail = {});

private:
    trace::Stmt* prepared(int slot, const char* sql);
    int64_t runInsert(trace::Stmt* stmt);
    // Writes a described row (trace/rows.h) with the statement of `slot`; returns its id (0 on error).
    // A row that says which sources saw it says: imported.
    template <typename Row> int64_t insertRow(int slot, Row row)
    {
        static const std::string sql = trace::insertSql<Row>();
        if constexpr (requires { row.source_mask; })
            row.source_mask = kSourceImport;
        trace::Stmt* st = prepared(slot, sql.c_str());
        if (!st)
            return 0;
        trace::bindRow(*st, row);
        return runInsert(st);
    }
    void fail(const Error& error);
    int64_t frame(const SymbolicFrame& f);

    trace::Db m_db;
    Status m_status = okStatus();
    bool m_inTransaction = false;
    std::vector<trace::Stmt> m_stmts;
    std::vector<bool> m_ready;
    std::unordered_map<std::string, int64_t> m_strings;
    std::map<std::string, int64_t> m_spaces;
    std::map<std::pair<int64_t, int64_t>, int64_t> m_threads;
    std::unordered_map<std::string, int64_t> m_frames;
    std::map<std::pair<int64_t, int64_t>, int64_t> m_callsites; // (parent or 0, frame) -> id
    int64_t m_nextFrameId = 1;
};

} // namespace tidemark::import
