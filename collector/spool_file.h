// One spool file opened for ingest: memory-mapped, its chunks indexed once, and its records walked
// either in file order (metadata pass) or merged by timestamp across threads (memory pass), because
// each thread flushes its own chunks and only a thread's own records are in time order.
#pragma once

#include "trace/result.h"
#include "trace/wire.h"

#include <cstdint>
#include <functional>
#include <memory>
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
    uint64_t truncated_bytes = 0; // of a partial last chunk, what never landed (died or disk full mid-write)
    uint64_t out_of_order = 0; // merged records earlier than one already visited (late or clock steps)
};

class SpoolFile {
public:
    // A finished file: mapped and indexed whole.
    static Result<SpoolFile> open(const std::string& path);
    // A file its process may still be writing: refresh() picks up the chunks completed since.
    static Result<SpoolFile> openGrowing(const std::string& path);
    SpoolFile(SpoolFile&& other) noexcept;
    SpoolFile& operator=(SpoolFile&& other) noexcept;
    SpoolFile(const SpoolFile&) = delete;
    SpoolFile& operator=(const SpoolFile&) = delete;
    ~SpoolFile();

    // Maps and indexes what the writer added. `final`: the writer is gone, so an incomplete tail
    // is truncation rather than a chunk still being written.
    Status refresh(bool final);

    const wire::SpoolFileHeader& header() const { return m_header; }
    const std::string& path() const { return m_path; }
    size_t sizeBytes() const { return m_size; }
    const SpoolFileScan& scan() const { return m_scan; }
    const std::vector<ChunkRef>& chunks() const { return m_chunks; }

    using Visitor = std::function<void(uint32_t tid, const wire::RecordHeader& record)>;
    // Every valid record of the chunks not visited yet, in file order; counts records and bad
    // records into scan(). progress, when given, gets the fraction of those chunks done.
    void forEachInFileOrder(const Visitor& visit, const std::function<void(double)>& progress = {});
    // Records accepted by `wanted` (the same predicate on every call), merged across threads by
    // timestamp (ties: frees first), from where the last call stopped up to (not including) `upTo`,
    // at most `limit` records; returns how many it visited.
    uint64_t forEachByTime(
        bool (*wanted)(wire::Kind), const Visitor& visit, uint64_t upTo = UINT64_MAX, uint64_t limit = UINT64_MAX);

    // Unmaps the file once it has been ingested (header and scan stay readable).
    void release();

    // The timestamp of a record kind that carries one (0 otherwise).
    static uint64_t timestampOf(const wire::RecordHeader& record);

    struct Merge; // the time merge's per-thread cursors, kept between calls

private:
    SpoolFile();
    static Result<SpoolFile> openMapped(const std::string& path, bool growing);
    Status map(size_t size);
    void indexChunks(bool final);
    bool recordValid(const wire::RecordHeader& rh) const;
    std::string m_path;
    wire::SpoolFileHeader m_header {};
    const uint8_t* m_data = nullptr;
    size_t m_size = 0; // bytes of the file known
    size_t m_mapped = 0; // bytes mapped (more than m_size for a growing file)
    size_t m_indexedTo = 0; // file offset up to which chunks are indexed
    size_t m_fileOrderNext = 0; // first chunk forEachInFileOrder has not visited
    std::vector<ChunkRef> m_chunks;
    SpoolFileScan m_scan;
    std::unique_ptr<Merge> m_merge;
};

} // namespace tidemark::collector
