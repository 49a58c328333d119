// Reads a spool file written by the capture library (format in wire.h): validates the header,
// walks chunks and records, and reports how a file cut short by a crash ended.
#pragma once

#include "trace/result.h"
#include "trace/wire.h"

#include <cstdint>
#include <functional>
#include <string>

namespace tidemark::trace {

struct SpoolScan {
    uint64_t chunks = 0;
    uint64_t records = 0;
    uint64_t bad_records = 0;    // records with an impossible size or unknown kind (skipped)
    uint64_t truncated_bytes = 0; // bytes of a partial last chunk (crash or kill mid-write)
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

} // namespace tidemark::trace
