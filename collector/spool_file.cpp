// Spool file access for ingest: mapping (of a finished file, or of one its process is still
// writing), chunk index, file-order walk and the per-thread merge by time, both resumable.
#include "collector/spool_file.h"

#include "trace/spool_reader.h"

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <fcntl.h>
#include <queue>
#include <sys/mman.h>
#include <sys/stat.h>
#include <tuple>
#include <unistd.h>

namespace tidemark::collector {

using wire::Kind;

namespace {

    // Room a growing file's mapping leaves for the writer, so most refreshes need no new mapping.
    constexpr size_t kGrowthReserve = size_t(1) << 30;

    bool isFreeLike(Kind k)
    {
        return k == Kind::HostFree || k == Kind::Free || k == Kind::HeapUnregister || k == Kind::HeapReset
            || k == Kind::RegionUnregister;
    }

} // namespace

struct SpoolFile::Merge {
    // One thread's records in file order, positioned on the next wanted record.
    struct Cursor {
        std::vector<size_t> chunks; // indexes into the file's chunk list
        size_t chunk = 0; // == chunks.size() once exhausted (until more chunks come)
        size_t pos = 0; // absolute offset of the current record, 0 = none available
        uint32_t tid = 0;
    };
    std::vector<Cursor> cursors;
    size_t chunksAssigned = 0;
    uint64_t lastTs = 0; // of the last record visited
};

SpoolFile::SpoolFile() = default;

Result<SpoolFile> SpoolFile::open(const std::string& path) { return openMapped(path, false); }

Result<SpoolFile> SpoolFile::openGrowing(const std::string& path) { return openMapped(path, true); }

Result<SpoolFile> SpoolFile::openMapped(const std::string& path, bool growing)
{
    // The shared reader validates magic, version and header size with typed errors.
    auto checked = trace::SpoolReader::open(path);
    if (!checked)
        return checked.error();
    SpoolFile file;
    file.m_path = path;
    file.m_header = checked->header();
    file.m_indexedTo = file.m_header.header_bytes;
    file.m_merge = std::make_unique<Merge>();
    if (auto s = file.refresh(!growing); !s)
        return s.error();
    return file;
}

Status SpoolFile::map(size_t reserve)
{
    int fd = ::open(m_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return makeError(ErrorCode::Io, "cannot open spool file " + m_path + ": " + std::strerror(errno));
    struct stat st { };
    if (fstat(fd, &st) != 0) {
        ::close(fd);
        return makeError(ErrorCode::Io, "cannot stat spool file " + m_path);
    }
    size_t now = static_cast<size_t>(st.st_size);
    if (now > m_mapped || !m_data) {
        // Offsets, not pointers, are kept everywhere, so the mapping may move.
        if (m_data)
            munmap(const_cast<uint8_t*>(m_data), m_mapped);
        m_data = nullptr;
        m_mapped = std::max(now, reserve);
        if (m_mapped > 0) {
            // Shared: pages the writer adds later show through; only bytes below m_size are read.
            void* map = mmap(nullptr, m_mapped, PROT_READ, MAP_SHARED, fd, 0);
            if (map == MAP_FAILED) {
                ::close(fd);
                m_mapped = 0;
                return makeError(ErrorCode::Io, "cannot map spool file " + m_path + ": " + std::strerror(errno));
            }
            // The file is read front to back twice; tell the kernel so it reads ahead.
            madvise(map, now, MADV_SEQUENTIAL);
            m_data = static_cast<const uint8_t*>(map);
        }
    }
    ::close(fd);
    m_size = now;
    return okStatus();
}

Status SpoolFile::refresh(bool final)
{
    if (auto s = map(final ? 0 : m_size + kGrowthReserve); !s)
        return s;
    // The writer sets these in place when a write fails (SpoolFileHeader::stopped_ts_ns).
    if (m_data && m_size >= sizeof(wire::SpoolFileHeader)) {
        std::memcpy(&m_header.stopped_ts_ns, m_data + offsetof(wire::SpoolFileHeader, stopped_ts_ns),
            sizeof(m_header.stopped_ts_ns));
        std::memcpy(&m_header.stopped_errno, m_data + offsetof(wire::SpoolFileHeader, stopped_errno),
            sizeof(m_header.stopped_errno));
    }
    indexChunks(final);
    return okStatus();
}

SpoolFile::SpoolFile(SpoolFile&& other) noexcept { *this = std::move(other); }

SpoolFile& SpoolFile::operator=(SpoolFile&& other) noexcept
{
    if (this != &other) {
        if (m_data)
            munmap(const_cast<uint8_t*>(m_data), m_mapped);
        m_path = std::move(other.m_path);
        m_header = other.m_header;
        m_data = other.m_data;
        m_size = other.m_size;
        m_mapped = other.m_mapped;
        m_indexedTo = other.m_indexedTo;
        m_fileOrderNext = other.m_fileOrderNext;
        m_chunks = std::move(other.m_chunks);
        m_scan = other.m_scan;
        m_merge = std::move(other.m_merge);
        other.m_data = nullptr;
        other.m_size = 0;
        other.m_mapped = 0;
    }
    return *this;
}

SpoolFile::~SpoolFile()
{
    if (m_data)
        munmap(const_cast<uint8_t*>(m_data), m_mapped);
}

void SpoolFile::indexChunks(bool final)
{
    size_t pos = m_indexedTo;
    while (pos < m_size) {
        trace::ChunkFrame f = trace::frameChunk(m_data, m_size, pos, final);
        if (f.state == trace::ChunkFrame::State::Pending)
            break; // while the writer lives: the next refresh looks again
        if (f.state == trace::ChunkFrame::State::Torn)
            m_scan.truncated_bytes += f.lost_bytes; // the record cut in two is counted when walked
        if (f.state == trace::ChunkFrame::State::Whole || f.payload_bytes > 0)
            m_chunks.push_back({ f.payload, f.payload_bytes, f.tid });
        pos = f.next;
    }
    m_indexedTo = pos;
}

bool SpoolFile::recordValid(const wire::RecordHeader& rh) const
{
    if (!trace::recordWellFormed(rh))
        return false;
    // Times are nanoseconds of CLOCK_MONOTONIC (since boot). One past 2^61 (73 years) is damage, not a
    // moment; below it, every sum of times and bucket widths the series make fits in int64.
    return timestampOf(rh) < (uint64_t(1) << 61);
}

void SpoolFile::release()
{
    if (m_data)
        munmap(const_cast<uint8_t*>(m_data), m_mapped);
    m_data = nullptr;
    m_mapped = 0;
    m_chunks.clear();
    m_fileOrderNext = 0;
    m_merge = std::make_unique<Merge>();
}

void SpoolFile::forEachInFileOrder(const Visitor& visit, const std::function<void(double)>& progress)
{
    const size_t first = m_fileOrderNext, total = m_chunks.size() - first;
    m_fileOrderNext = m_chunks.size();
    for (size_t i = first; i < m_chunks.size(); ++i) {
        const ChunkRef& c = m_chunks[i];
        if (progress && (i - first) % 256 == 0)
            progress(static_cast<double>(i - first) / static_cast<double>(total));
        size_t rp = c.payload_offset;
        size_t end = rp + c.payload_bytes;
        while (rp < end) {
            if (trace::frameRecord(m_data, rp, end) == 0) {
                if (rp + sizeof(wire::RecordHeader) <= end)
                    ++m_scan.bad_records; // the rest of this chunk cannot be framed
                break;
            }
            const auto& rh = *reinterpret_cast<const wire::RecordHeader*>(m_data + rp);
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

uint64_t SpoolFile::forEachByTime(bool (*wanted)(Kind), const Visitor& visit, uint64_t upTo, uint64_t limit)
{
    Merge& m = *m_merge;
    using Cursor = Merge::Cursor;
    // Moves a cursor to its next wanted, well-formed record starting at `from` in the current chunk.
    auto settle = [&](Cursor& cur, size_t from) {
        while (cur.chunk < cur.chunks.size()) {
            const ChunkRef& c = m_chunks[cur.chunks[cur.chunk]];
            size_t end = c.payload_offset + c.payload_bytes;
            size_t rp = from ? from : c.payload_offset;
            while (trace::frameRecord(m_data, rp, end) != 0) {
                const auto& rh = *reinterpret_cast<const wire::RecordHeader*>(m_data + rp);
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
    // Chunks indexed since the last call go to their thread's cursor; a cursor that had run dry
    // continues in them.
    for (size_t i = m.chunksAssigned; i < m_chunks.size(); ++i) {
        auto it = std::find_if(
            m.cursors.begin(), m.cursors.end(), [&](const Cursor& c) { return c.tid == m_chunks[i].tid; });
        if (it == m.cursors.end()) {
            m.cursors.push_back({});
            it = m.cursors.end() - 1;
            it->tid = m_chunks[i].tid;
        }
        it->chunks.push_back(i);
        if (it->pos == 0)
            settle(*it, 0);
    }
    m.chunksAssigned = m_chunks.size();
    // Key: (timestamp, frees before allocations at equal times, cursor index for stability).
    using Key = std::tuple<uint64_t, int, size_t>;
    std::priority_queue<Key, std::vector<Key>, std::greater<Key>> heap;
    auto push = [&](size_t i) {
        if (m.cursors[i].pos == 0)
            return;
        const auto& rh = *reinterpret_cast<const wire::RecordHeader*>(m_data + m.cursors[i].pos);
        heap.emplace(timestampOf(rh), isFreeLike(static_cast<Kind>(rh.kind)) ? 0 : 1, i);
    };
    for (size_t i = 0; i < m.cursors.size(); ++i)
        push(i);
    uint64_t visited = 0;
    while (!heap.empty() && std::get<0>(heap.top()) < upTo && visited < limit) {
        Key key = heap.top();
        heap.pop();
        const size_t i = std::get<2>(key);
        Merge::Cursor& cur = m.cursors[i];
        // A thread's records come in runs: stay on this cursor while it stays ahead of every other
        // (the heap then sees one push per run instead of one per record).
        while (true) {
            const auto& rh = *reinterpret_cast<const wire::RecordHeader*>(m_data + cur.pos);
            const uint64_t ts = std::get<0>(key);
            if (ts < m.lastTs)
                ++m_scan.out_of_order;
            m.lastTs = std::max(m.lastTs, ts);
            ++visited;
            visit(cur.tid, rh);
            settle(cur, cur.pos + rh.size_bytes);
            if (cur.pos == 0 || visited >= limit)
                break;
            const auto& next = *reinterpret_cast<const wire::RecordHeader*>(m_data + cur.pos);
            key = Key { timestampOf(next), isFreeLike(static_cast<Kind>(next.kind)) ? 0 : 1, i };
            if (std::get<0>(key) >= upTo || (!heap.empty() && !(key < heap.top())))
                break;
        }
        push(i);
    }
    return visited;
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
