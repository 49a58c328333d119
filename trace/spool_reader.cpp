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
    size_t pos = m_header.header_bytes;
    while (pos < m_size) {
        if (m_size - pos < sizeof(wire::ChunkHeader)) {
            scan.truncated_bytes += m_size - pos;
            scan.clean_end = false;
            break;
        }
        wire::ChunkHeader chunk;
        std::memcpy(&chunk, m_data + pos, sizeof(chunk));
        if (chunk.magic != wire::kChunkMagic) {
            // A zero-filled or torn tail (the kernel extended the file before the data landed).
            scan.truncated_bytes += m_size - pos;
            scan.clean_end = false;
            break;
        }
        size_t payloadStart = pos + sizeof(chunk);
        if (chunk.payload_bytes > m_size - payloadStart) {
            scan.truncated_bytes += m_size - pos;
            scan.clean_end = false;
            break;
        }
        ++scan.chunks;
        size_t rp = payloadStart;
        size_t end = payloadStart + chunk.payload_bytes;
        while (rp + sizeof(wire::RecordHeader) <= end) {
            wire::RecordHeader rh;
            std::memcpy(&rh, m_data + rp, sizeof(rh));
            uint32_t minBytes = recordMinBytes(static_cast<Kind>(rh.kind));
            if (rh.size_bytes == 0 || rh.size_bytes % 8 != 0 || rp + rh.size_bytes > end) {
                ++scan.bad_records; // cannot resynchronise inside this chunk
                break;
            }
            if (minBytes == 0 || rh.size_bytes < minBytes
                || (!recordIsVariable(static_cast<Kind>(rh.kind)) && rh.size_bytes != wire::padTo8(minBytes))) {
                ++scan.bad_records;
            } else {
                ++scan.records;
                // Records are 8-byte aligned within chunks (header 16, records multiples of 8) and the
                // map is page aligned, so the cast is safe.
                visit(chunk.tid, *reinterpret_cast<const wire::RecordHeader*>(m_data + rp));
            }
            rp += rh.size_bytes;
        }
        pos = end;
        // chunks are padded to 8 bytes by the writer
        pos = (pos + 7) & ~static_cast<size_t>(7);
    }
    return scan;
}

} // namespace tidemark::trace
