// Writes imported data into a new recording: cached prepared statements, interned strings, spaces,
// processes and threads, a frame/callsite trie built from symbolic stack frames, and one insert per row
// kind. Errors are sticky: the first failure is kept and every later call becomes a no-op, so importers
// stay readable and check status() once per stage.
#pragma once

#include "trace/enums.h"
#include "trace/result.h"
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

struct AllocationRow {
    int64_t spaceId = 0;
    int64_t processId = 0;
    std::optional<int64_t> threadId;
    Api api = Api::Unknown;
    uint64_t address = 0;
    int64_t sizeBytes = 0;
    int64_t allocTsNs = 0;
    std::optional<int64_t> freeTsNs;
    std::optional<Api> freeApi;
    std::optional<int64_t> callsiteId;
    std::optional<int64_t> rangeId;
    std::optional<int64_t> heapId;
    std::optional<int64_t> stream;
    std::optional<int64_t> nameId;
};

struct HeapRow {
    int64_t spaceId = 0;
    int64_t processId = 0;
    uint64_t address = 0;
    int64_t sizeBytes = 0;
    std::string usage;
    std::optional<int64_t> nameId;
    int64_t registerTsNs = 0;
    std::optional<int64_t> unregisterTsNs;
    std::optional<int64_t> callsiteId;
};

struct RangeRow {
    int64_t processId = 0;
    std::optional<int64_t> threadId;
    std::optional<int64_t> parentId;
    int depth = 0;
    std::string kind = "import";
    std::optional<int64_t> domainId;
    std::optional<int64_t> nameId;
    std::optional<int64_t> category;
    std::optional<int64_t> color;
    int64_t startTsNs = 0;
    std::optional<int64_t> endTsNs;
};

struct KernelRow {
    std::optional<int64_t> processId, device, context, stream;
    int64_t startTsNs = 0, endTsNs = 0;
    std::optional<int64_t> nameId, correlationId;
    std::optional<int64_t> grid[3], block[3];
    std::optional<int64_t> registersPerThread, staticSharedBytes, dynamicSharedBytes;
};

struct CopyRow { // memcpy when copyKind is set, else memset
    std::optional<int64_t> processId, device, context, stream;
    int64_t startTsNs = 0, endTsNs = 0, sizeBytes = 0;
    std::optional<std::string> copyKind;
    std::optional<int64_t> value, correlationId;
};

struct FailedRow {
    int64_t spaceId = 0, processId = 0;
    std::optional<int64_t> threadId;
    Api api = Api::Unknown;
    int64_t sizeBytes = 0, tsNs = 0;
    std::optional<int64_t> callsiteId, rangeId, stream, errorCode;
    std::optional<std::string> errorName;
    std::optional<int64_t> deviceFreeBytes, deviceTotalBytes, liveBytes;
};

struct SampleRow {
    std::optional<int64_t> processId;
    int64_t spaceId = 0, tsNs = 0;
    std::optional<int64_t> freeBytes, totalBytes, usedBytes, reservedBytes;
};

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

    // Spaces are created on first use: "cuda:N", "pool:cuda:N" (parent cuda:N), "host", "pinned", "managed".
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
    void copy(const CopyRow& row);
    void failed(const FailedRow& row);
    void sample(const SampleRow& row);
    void mark(int64_t processId, int64_t tsNs, std::string_view name);
    void stat(std::optional<int64_t> processId, std::string_view name, int64_t value, std::string_view detail = {});

private:
    trace::Stmt* prepared(int slot, const char* sql);
    int64_t runInsert(trace::Stmt* stmt);
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
