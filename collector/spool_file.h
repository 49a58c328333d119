// One spool file opened for ingest: memory-mapped, its chunks indexed once, and its records walked
// either in file order (metadata pass) or merged by timestamp across threads (memory pass), because
// each thread flushes its own chunks and only a thread's own records are in time order.
#pragma once

#include "trace/result.h"
#include "trace/wire.h"

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace tidemark::collector {

struct ChunkRef {
    size_t payload_offset; // of the first record
    uint32_t payload_bytes;
    uint32_t tid;
};

struct SpoolFileScan {
    uint64_t records = 0;
    uint64_t bad_records = 0; // impossible size or unknown kind: skipped, counted
    uint64_t truncated_bytes = 0; // a partial last chunk (the process died mid-write)
};

class SpoolFile {
public:
    static Result<SpoolFile> open(const std::string& path);
    SpoolFile(SpoolFile&& other) noexcept;
    SpoolFile& operator=(SpoolFile&& other) noexcept;
    SpoolFile(const SpoolFile&) = delete;
    SpoolFile& operator=(const SpoolFile&) = delete;
    ~SpoolFile();

    const wire::SpoolFileHeader& header() const { return m_header; }
    const std::string& path() const { return m_path; }
    size_t sizeBytes() const { return m_size; }
    const SpoolFileScan& scan() const { return m_scan; }
    const std::vector<ChunkRef>& chunks() const { return m_chunks; }

    using Visitor = std::function<void(uint32_t tid, const wire::RecordHeader& record)>;
    // Every valid record in file order; counts records and bad records into scan(). progress, when
    // given, is called with the fraction of chunks done every few hundred chunks.
    void forEachInFileOrder(const Visitor& visit, const std::function<void(double)>& progress = {});
    // Records accepted by `wanted`, merged across threads by timestamp (ties: frees first).
    void forEachByTime(bool (*wanted)(wire::Kind), const Visitor& visit) const;

    // The earliest and latest timestamps of the records accepted by `wanted` ({1, 0} when none).
    std::pair<uint64_t, uint64_t> timeSpan(bool (*wanted)(wire::Kind)) const;

    // Unmaps the file once it has been ingested (header and scan stay readable).
    void release();

    // The timestamp of a record kind that carries one (0 otherwise).
    static uint64_t timestampOf(const wire::RecordHeader& record);

private:
    SpoolFile() = default;
    void indexChunks();
    bool recordValid(const wire::RecordHeader& rh) const;
    std::string m_path;
    wire::SpoolFileHeader m_header {};
    const uint8_t* m_data = nullptr;
    size_t m_size = 0;
    std::vector<ChunkRef> m_chunks;
    SpoolFileScan m_scan;
};

} // namespace tidemark::collector
