// Spool file reader: memory-maps the file and walks chunks; tolerant of a cut-short tail.
#include "trace/spool_reader.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace tidemark::trace {

using wire::Kind;

uint32_t recordMinBytes(Kind kind)
{
    switch (kind) {
    case Kind::ProcessInfo: return sizeof(wire::ProcessInfoRecord);
    case Kind::ProcessExit: return sizeof(wire::ProcessExitRecord);
    case Kind::ThreadName: return sizeof(wire::ThreadNameRecord);
    case Kind::Module: return sizeof(wire::ModuleRecord);
    case Kind::ModuleUnload: return sizeof(wire::ModuleUnloadRecord);
    case Kind::String: return sizeof(wire::StringRecord);
    case Kind::Stack: return sizeof(wire::StackRecord);
    case Kind::Stat: return sizeof(wire::StatRecord);
    case Kind::PyFrame: return sizeof(wire::PyFrameRecord);
    case Kind::HostAlloc: return sizeof(wire::HostAllocRecord);
    case Kind::HostFree: return sizeof(wire::HostFreeRecord);
    case Kind::Alloc: return sizeof(wire::AllocRecord);
    case Kind::Free: return sizeof(wire::FreeRecord);
    case Kind::AllocFailed: return sizeof(wire::AllocFailedRecord);
    case Kind::Sample: return sizeof(wire::SampleRecord);
    case Kind::RangeBegin: return sizeof(wire::RangeBeginRecord);
    case Kind::RangeEnd: return sizeof(wire::RangeEndRecord);
    case Kind::Mark: return sizeof(wire::MarkRecord);
    case Kind::HeapRegister: return sizeof(wire::HeapRegisterRecord);
    case Kind::HeapUnregister:
    case Kind::HeapReset: return sizeof(wire::HeapEventRecord);
    case Kind::RegionRegister: return sizeof(wire::RegionRegisterRecord);
    case Kind::RegionUnregister:
    case Kind::RegionResize:
    case Kind::RegionName: return sizeof(wire::RegionEventRecord);
    case Kind::Kernel: return sizeof(wire::KernelRecord);
    case Kind::Memcpy: return sizeof(wire::MemcpyRecord);
    case Kind::Memset: return sizeof(wire::MemsetRecord);
    case Kind::Invalid: return 0;
    }
    return 0;
}

bool recordIsVariable(Kind kind)
{
    switch (kind) {
    case Kind::ProcessInfo:
    case Kind::ThreadName:
    case Kind::Module:
    case Kind::String:
    case Kind::Stack:
    case Kind::Stat: return true;
    default: return false;
    }
}

ChunkFrame frameChunk(const uint8_t* data, size_t size, size_t pos, bool final)
{
    ChunkFrame f;
    wire::ChunkHeader chunk {};
    bool headerLanded = size - pos >= sizeof(chunk);
    if (headerLanded)
        std::memcpy(&chunk, data + pos, sizeof(chunk));
    // A zero-filled tail (the file was extended before the data landed) has no magic.
    headerLanded = headerLanded && chunk.magic == wire::kChunkMagic;
    f.payload = pos + sizeof(chunk);
    f.tid = chunk.tid;
    if (headerLanded && chunk.payload_bytes <= size - f.payload) {
        f.payload_bytes = chunk.payload_bytes;
        f.next = (f.payload + chunk.payload_bytes + 7) & ~size_t(7);
        return f;
    }
    f.state = final ? ChunkFrame::State::Torn : ChunkFrame::State::Pending;
    f.next = final ? size : pos;
    if (!final)
        return f;
    if (headerLanded && size > f.payload) {
        f.payload_bytes = uint32_t(size - f.payload);
        f.lost_bytes = chunk.payload_bytes - f.payload_bytes;
    } else {
        f.lost_bytes = size - pos;
    }
    return f;
}

bool recordWellFormed(const wire::RecordHeader& rh)
{
    auto kind = static_cast<Kind>(rh.kind);
    uint32_t minBytes = recordMinBytes(kind);
    if (minBytes == 0 || rh.size_bytes < minBytes)
        return false;
    return recordIsVariable(kind) || rh.size_bytes == wire::padTo8(minBytes);
}

Result<SpoolReader> SpoolReader::open(const std::string& path)
{
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return makeError(ErrorCode::Io, "cannot open spool file " + path + ": " + std::strerror(errno));
    struct stat st {};
    if (fstat(fd, &st) != 0) {
        ::close(fd);
        return makeError(ErrorCode::Io, "cannot stat spool file " + path + ": " + std::strerror(errno));
    }
    SpoolReader reader;
    reader.m_path = path;
    reader.m_size = static_cast<size_t>(st.st_size);
    if (reader.m_size < sizeof(wire::SpoolFileHeader)) {
        ::close(fd);
        return makeError(ErrorCode::Corrupt, "spool file " + path + " is shorter than its header");
    }
    void* map = mmap(nullptr, reader.m_size, PROT_READ, MAP_PRIVATE, fd, 0);
    ::close(fd);
    if (map == MAP_FAILED)
        return makeError(ErrorCode::Io, "cannot map spool file " + path + ": " + std::strerror(errno));
    reader.m_data = static_cast<const uint8_t*>(map);
    std::memcpy(&reader.m_header, reader.m_data, sizeof(reader.m_header));
    if (std::memcmp(reader.m_header.magic, wire::kSpoolMagic, sizeof(wire::kSpoolMagic)) != 0)
        return makeError(ErrorCode::NotARecording, path + " is not a tidemark spool file");
    if (reader.m_header.version != wire::kSpoolVersion)
        return makeError(ErrorCode::NewerSchema,
            path + " has spool version " + std::to_string(reader.m_header.version) + ", this tidemark reads version "
                + std::to_string(wire::kSpoolVersion));
    if (reader.m_header.header_bytes < sizeof(wire::SpoolFileHeader) || reader.m_header.header_bytes > reader.m_size)
        return makeError(ErrorCode::Corrupt, "spool file " + path + " has a bad header size");
    return reader;
}

SpoolReader::SpoolReader(SpoolReader&& other) noexcept { *this = std::move(other); }

SpoolReader& SpoolReader::operator=(SpoolReader&& other) noexcept
{
    if (this != &other) {
        if (m_data)
            munmap(const_cast<uint8_t*>(m_data), m_size);
        m_path = std::move(other.m_path);
        m_header = other.m_header;
        m_data = other.m_data;
        m_size = other.m_size;
        other.m_data = nullptr;
        other.m_size = 0;
    }
    return *this;
}

SpoolReader::~SpoolReader()
{
    if (m_data)
        munmap(const_cast<uint8_t*>(m_data), m_size);
}

SpoolScan SpoolReader::forEach(const Visitor& visit) const
{
    SpoolScan scan;
    for (size_t pos = m_header.header_bytes; pos < m_size;) {
        ChunkFrame f = frameChunk(m_data, m_size, pos, true);
        if (f.state == ChunkFrame::State::Torn) {
            scan.truncated_bytes += f.lost_bytes;
            scan.clean_end = false;
        }
        pos = f.next;
        if (f.state == ChunkFrame::State::Torn && f.payload_bytes == 0)
            continue;
        ++scan.chunks;
        const size_t end = f.payload + f.payload_bytes;
        for (size_t rp = f.payload; rp < end;) {
            uint32_t bytes = frameRecord(m_data, rp, end);
            if (bytes == 0) {
                if (rp + sizeof(wire::RecordHeader) <= end)
                    ++scan.bad_records; // cannot resynchronise inside this chunk
                break;
            }
            const auto& rh = *reinterpret_cast<const wire::RecordHeader*>(m_data + rp);
            if (recordWellFormed(rh)) {
                ++scan.records;
                // Records are 8-byte aligned within chunks (header 16, records multiples of 8) and the
                // map is page aligned, so the reference is aligned.
                visit(f.tid, rh);
            } else {
                ++scan.bad_records;
            }
            rp += bytes;
        }
    }
    return scan;
}

} // namespace tidemark::trace
