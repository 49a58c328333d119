// Reads a spool file written by the capture library (format in wire.h): validates the header,
// walks chunks and records, and reports how a file cut short by a crash ended.
#pragma once

#include "trace/result.h"
#include "trace/wire.h"

#include <cstdint>
#include <cstring>
#include <functional>
#include <string>

namespace tidemark::trace {

struct SpoolScan {
    uint64_t chunks = 0;
    uint64_t records = 0;
    uint64_t bad_records = 0;    // records with an impossible size or unknown kind (skipped)
    uint64_t truncated_bytes = 0; // of a partial last chunk, what never landed (crash, kill, disk full)
    bool clean_end = true;        // the file ended on a chunk boundary
};

class SpoolReader {
public:
    static Result<SpoolReader> open(const std::string& path);
    SpoolReader(SpoolReader&& other) noexcept;
    SpoolReader& operator=(SpoolReader&& other) noexcept;
    SpoolReader(const SpoolReader&) = delete;
    SpoolReader& operator=(const SpoolReader&) = delete;
    ~SpoolReader();

    const wire::SpoolFileHeader& header() const { return m_header; }
    const std::string& path() const { return m_path; }

    // Calls visit(tid, record) for every complete record in file order. A record pointer is valid
    // only during the call; its size_bytes has been checked against the chunk.
    using Visitor = std::function<void(uint32_t tid, const wire::RecordHeader& record)>;
    SpoolScan forEach(const Visitor& visit) const;

private:
    SpoolReader() = default;
    std::string m_path;
    wire::SpoolFileHeader m_header {};
    const uint8_t* m_data = nullptr;
    size_t m_size = 0;
};

// Fixed size of each record kind; 0 for variable-length kinds (which have a minimum instead).
uint32_t recordMinBytes(wire::Kind kind);
bool recordIsVariable(wire::Kind kind);

// The framing of a spool, shared by every reader (this one and the collector's): chunks follow the
// file header, each a wire::ChunkHeader and its records, padded to 8 bytes.
struct ChunkFrame {
    enum class State : uint8_t {
        Whole,   // header and payload are in the file
        Pending, // incomplete, and the writer may still complete it
        Torn,    // incomplete for good: the writer died, or its disk filled, while writing it
    };
    State state = State::Whole;
    size_t payload = 0;         // offset of the first record
    uint32_t payload_bytes = 0; // of the payload in the file (Torn: what landed)
    uint32_t tid = 0;
    uint64_t lost_bytes = 0; // Torn: what never landed (all of it from `pos` when the header is torn)
    size_t next = 0;         // where the next chunk starts (the end of the file after a torn chunk)
};
// The chunk at `pos` of a file of `size` bytes. `final`: nothing more will be written. A torn chunk
// whose header landed keeps its payload's whole records, in the thread's order from its start.
ChunkFrame frameChunk(const uint8_t* data, size_t size, size_t pos, bool final);
// The size of the record at `rp` of a payload ending at `end`, or 0 when it cannot be framed (zero,
// not a multiple of 8, or past the end): the rest of that payload is then unreadable.
// Inline: called for every record of every ingest.
inline uint32_t frameRecord(const uint8_t* data, size_t rp, size_t end)
{
    if (rp + sizeof(wire::RecordHeader) > end)
        return 0;
    wire::RecordHeader rh;
    std::memcpy(&rh, data + rp, sizeof(rh));
    if (rh.size_bytes == 0 || rh.size_bytes % 8 != 0 || rp + rh.size_bytes > end)
        return 0;
    return rh.size_bytes;
}
// Whether a framed record's size is one its kind can have.
bool recordWellFormed(const wire::RecordHeader& record);

} // namespace tidemark::trace
