// Spool file access for ingest: mapping, chunk index, file-order walk and the per-thread merge.
#include "collector/spool_file.h"

#include "trace/spool_reader.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <queue>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace tidemark::collector {

using wire::Kind;

Result<SpoolFile> SpoolFile::open(const std::string& path)
{
    // The shared reader validates magic, version and header size with typed errors.
    auto checked = trace::SpoolReader::open(path);
    if (!checked)
        return checked.error();
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return makeError(ErrorCode::Io, "cannot open spool file " + path + ": " + std::strerror(errno));
    struct stat st { };
    if (fstat(fd, &st) != 0) {
        ::close(fd);
        return makeError(ErrorCode::Io, "cannot stat spool file " + path);
    }
    SpoolFile file;
    file.m_path = path;
    file.m_size = static_cast<size_t>(st.st_size);
    file.m_header = checked->header();
    void* map = mmap(nullptr, file.m_size, PROT_READ, MAP_PRIVATE, fd, 0);
    ::close(fd);
    if (map == MAP_FAILED)
        return makeError(ErrorCode::Io, "cannot map spool file " + path + ": " + std::strerror(errno));
    // The file is read front to back twice; tell the kernel so it reads ahead.
    madvise(map, file.m_size, MADV_SEQUENTIAL);
    file.m_data = static_cast<const uint8_t*>(map);
    file.indexChunks();
    return file;
}

SpoolFile::SpoolFile(SpoolFile&& other) noexcept
{
    *this = std::move(other);
}

SpoolFile& SpoolFile::operator=(SpoolFile&& other) noexcept
{
    if (this != &other) {
        if (m_data)
            munmap(const_cast<uint8_t*>(m_data), m_size);
        m_path = std::move(other.m_path);
        m_header = other.m_header;
        m_data = other.m_data;
        m_size = other.m_size;
        m_chunks = std::move(other.m_chunks);
        m_scan = other.m_scan;
        other.m_data = nullptr;
        other.m_size = 0;
    }
    return *this;
}

SpoolFile::~SpoolFile()
{
    if (m_data)
        munmap(const_cast<uint8_t*>(m_data), m_size);
}

void SpoolFile::indexChunks()
{
    size_t pos = m_header.header_bytes;
    while (pos < m_size) {
        wire::ChunkHeader chunk;
        if (m_size - pos < sizeof(chunk)) {
            m_scan.truncated_bytes += m_size - pos;
            break;
        }
        std::memcpy(&chunk, m_data + pos, sizeof(chunk));
        size_t payload = pos + sizeof(chunk);
        // A torn tail: zero-filled, or a header whose payload never landed.
        if (chunk.magic != wire::kChunkMagic || chunk.payload_bytes > m_size - payload) {
            m_scan.truncated_bytes += m_size - pos;
            break;
        }
        m_chunks.push_back({ payload, chunk.payload_bytes, chunk.tid });
        pos = (payload + chunk.payload_bytes + 7) & ~static_cast<size_t>(7);
    }
}

bool SpoolFile::recordValid(const wire::RecordHeader& rh) const
{
    auto kind = static_cast<Kind>(rh.kind);
    uint32_t minBytes = trace::recordMinBytes(kind);
    if (minBytes == 0 || rh.size_bytes < minBytes)
        return false;
    return trace::recordIsVariable(kind) || rh.size_bytes == wire::padTo8(minBytes);
}

void SpoolFile::release()
{
    if (m_data)
        munmap(const_cast<uint8_t*>(m_data), m_size);
    m_data = nullptr;
    m_chunks.clear();
}

void SpoolFile::forEachInFileOrder(const Visitor& visit, const std::function<void(double)>& progress)
{
    m_scan.records = 0;
    m_scan.bad_records = 0;
    for (size_t i = 0; i < m_chunks.size(); ++i) {
        const ChunkRef& c = m_chunks[i];
        if (progress && i % 256 == 0)
            progress(static_cast<double>(i) / static_cast<double>(m_chunks.size()));
        size_t rp = c.payload_offset;
        size_t end = rp + c.payload_bytes;
        while (rp + sizeof(wire::RecordHeader) <= end) {
            const auto& rh = *reinterpret_cast<const wire::RecordHeader*>(m_data + rp);
            if (rh.size_bytes == 0 || rh.size_bytes % 8 != 0 || rp + rh.size_bytes > end) {
                ++m_scan.bad_records; // the rest of this chunk cannot be framed
                break;
            }
            if (recordValid(rh)) {
                ++m_scan.records;
                visit(c.tid, rh);
            } else {
                ++m_scan.bad_records;
            }
            rp += rh.size_bytes;
        }
    }
}

namespace {

    bool isFreeLike(Kind k)
    {
        return k == Kind::HostFree || k == Kind::Free || k == Kind::HeapUnregister || k == Kind::HeapReset
            || k == Kind::RegionUnregister;
    }

    // One thread's records in file order, positioned on the next wanted record.
    struct Cursor {
        std::vector<size_t> chunks; // indexes into the file's chunk list
        size_t chunk = 0;
        size_t pos = 0; // absolute offset of the current record, 0 = exhausted
        uint32_t tid = 0;
    };

} // namespace

void SpoolFile::forEachByTime(bool (*wanted)(Kind), const Visitor& visit) const
{
    std::vector<Cursor> cursors;
    {
        std::vector<std::pair<uint32_t, size_t>> byTid; // tid -> cursor index, tiny linear map
        for (size_t i = 0; i < m_chunks.size(); ++i) {
            size_t ci = cursors.size();
            for (auto& [tid, idx] : byTid)
                if (tid == m_chunks[i].tid)
                    ci = idx;
            if (ci == cursors.size()) {
                byTid.emplace_back(m_chunks[i].tid, ci);
                cursors.push_back({});
                cursors.back().tid = m_chunks[i].tid;
            }
            cursors[ci].chunks.push_back(i);
        }
    }
    // Moves a cursor to its next wanted, well-formed record starting at `from` in the current chunk.
    auto settle = [&](Cursor& cur, size_t from) {
        while (cur.chunk < cur.chunks.size()) {
            const ChunkRef& c = m_chunks[cur.chunks[cur.chunk]];
            size_t end = c.payload_offset + c.payload_bytes;
            size_t rp = from ? from : c.payload_offset;
            while (rp + sizeof(wire::RecordHeader) <= end) {
                const auto& rh = *reinterpret_cast<const wire::RecordHeader*>(m_data + rp);
                if (rh.size_bytes == 0 || rh.size_bytes % 8 != 0 || rp + rh.size_bytes > end)
                    break;
                if (recordValid(rh) && wanted(static_cast<Kind>(rh.kind))) {
                    cur.pos = rp;
                    return;
                }
                rp += rh.size_bytes;
            }
            ++cur.chunk;
            from = 0;
        }
        cur.pos = 0;
    };
    // Key: (timestamp, frees before allocations at equal times, cursor index for stability).
    using Key = std::tuple<uint64_t, int, size_t>;
    std::priority_queue<Key, std::vector<Key>, std::greater<Key>> heap;
    auto push = [&](size_t i) {
        if (cursors[i].pos == 0)
            return;
        const auto& rh = *reinterpret_cast<const wire::RecordHeader*>(m_data + cursors[i].pos);
        heap.emplace(timestampOf(rh), isFreeLike(static_cast<Kind>(rh.kind)) ? 0 : 1, i);
    };
    for (size_t i = 0; i < cursors.size(); ++i) {
        settle(cursors[i], 0);
        push(i);
    }
    while (!heap.empty()) {
        size_t i = std::get<2>(heap.top());
        heap.pop();
        Cursor& cur = cursors[i];
        const auto& rh = *reinterpret_cast<const wire::RecordHeader*>(m_data + cur.pos);
        visit(cur.tid, rh);
        settle(cur, cur.pos + rh.size_bytes);
        push(i);
    }
}

std::pair<uint64_t, uint64_t> SpoolFile::timeSpan(bool (*wanted)(Kind)) const
{
    uint64_t lo = UINT64_MAX, hi = 0;
    for (const ChunkRef& c : m_chunks) {
        size_t end = c.payload_offset + c.payload_bytes;
        for (size_t rp = c.payload_offset; rp + sizeof(wire::RecordHeader) <= end;) {
            const auto& rh = *reinterpret_cast<const wire::RecordHeader*>(m_data + rp);
            if (rh.size_bytes == 0 || rh.size_bytes % 8 != 0 || rp + rh.size_bytes > end)
                break;
            if (recordValid(rh) && wanted(static_cast<Kind>(rh.kind))) {
                uint64_t ts = timestampOf(rh);
                lo = std::min(lo, ts);
                hi = std::max(hi, ts);
            }
            rp += rh.size_bytes;
        }
    }
    return lo > hi ? std::pair<uint64_t, uint64_t> { 1, 0 } : std::pair { lo, hi };
}

uint64_t SpoolFile::timestampOf(const wire::RecordHeader& r)
{
    switch (static_cast<Kind>(r.kind)) {
    case Kind::ProcessInfo:
        return reinterpret_cast<const wire::ProcessInfoRecord&>(r).ts_ns;
    case Kind::ProcessExit:
        return reinterpret_cast<const wire::ProcessExitRecord&>(r).ts_ns;
    case Kind::ThreadName:
        return reinterpret_cast<const wire::ThreadNameRecord&>(r).ts_ns;
    case Kind::Module:
        return reinterpret_cast<const wire::ModuleRecord&>(r).ts_ns;
    case Kind::ModuleUnload:
        return reinterpret_cast<const wire::ModuleUnloadRecord&>(r).ts_ns;
    case Kind::HostAlloc:
        return reinterpret_cast<const wire::HostAllocRecord&>(r).ts_ns;
    case Kind::HostFree:
        return reinterpret_cast<const wire::HostFreeRecord&>(r).ts_ns;
    case Kind::Alloc:
        return reinterpret_cast<const wire::AllocRecord&>(r).ts_ns;
    case Kind::Free:
        return reinterpret_cast<const wire::FreeRecord&>(r).ts_ns;
    case Kind::AllocFailed:
        return reinterpret_cast<const wire::AllocFailedRecord&>(r).ts_ns;
    case Kind::Sample:
        return reinterpret_cast<const wire::SampleRecord&>(r).ts_ns;
    case Kind::RangeBegin:
        return reinterpret_cast<const wire::RangeBeginRecord&>(r).ts_ns;
    case Kind::RangeEnd:
        return reinterpret_cast<const wire::RangeEndRecord&>(r).ts_ns;
    case Kind::Mark:
        return reinterpret_cast<const wire::MarkRecord&>(r).ts_ns;
    case Kind::HeapRegister:
        return reinterpret_cast<const wire::HeapRegisterRecord&>(r).ts_ns;
    case Kind::HeapUnregister:
    case Kind::HeapReset:
        return reinterpret_cast<const wire::HeapEventRecord&>(r).ts_ns;
    case Kind::RegionRegister:
        return reinterpret_cast<const wire::RegionRegisterRecord&>(r).ts_ns;
    case Kind::RegionUnregister:
    case Kind::RegionResize:
    case Kind::RegionName:
        return reinterpret_cast<const wire::RegionEventRecord&>(r).ts_ns;
    case Kind::Kernel:
        return reinterpret_cast<const wire::KernelRecord&>(r).start_ts_ns;
    case Kind::Memcpy:
        return reinterpret_cast<const wire::MemcpyRecord&>(r).start_ts_ns;
    case Kind::Memset:
        return reinterpret_cast<const wire::MemsetRecord&>(r).start_ts_ns;
    default:
        return 0;
    }
}

} // namespace tidemark::collector
