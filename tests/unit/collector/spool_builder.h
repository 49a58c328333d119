// Test helper: writes spool files the way the capture library does (trace/wire.h), one chunk buffer
// per thread flushed on demand, so tests control the interleaving of threads in the file.
#pragma once

#include "trace/enums.h"
#include "trace/wire.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace tidemark::testing {

class SpoolBuilder {
public:
    SpoolBuilder(uint32_t pid, uint32_t ppid = 1, uint32_t imageSeq = 0, uint64_t startTs = 1)
        : m_pid(pid)
        , m_imageSeq(imageSeq)
    {
        wire::SpoolFileHeader h {};
        std::memcpy(h.magic, wire::kSpoolMagic, 8);
        h.version = wire::kSpoolVersion;
        h.header_bytes = sizeof(h);
        h.pid = pid;
        h.ppid = ppid;
        h.image_seq = imageSeq;
        h.start_ts_ns = startTs;
        append(m_bytes, &h, sizeof(h));
    }

    template <typename R> static R make(wire::Kind kind)
    {
        R r {};
        r.h.kind = static_cast<uint16_t>(kind);
        r.h.size_bytes = static_cast<uint16_t>(wire::padTo8(sizeof(R)));
        return r;
    }

    // Appends a record (plus variable-length tail) to this thread's open chunk.
    template <typename R> SpoolBuilder& add(uint32_t tid, R r, std::string_view tail = {})
    {
        r.h.size_bytes = static_cast<uint16_t>(wire::padTo8(static_cast<uint32_t>(sizeof(R) + tail.size())));
        auto& buf = m_open[tid];
        append(buf, &r, sizeof(R));
        append(buf, tail.data(), tail.size());
        buf.resize(buf.size() + (r.h.size_bytes - sizeof(R) - tail.size()), 0);
        return *this;
    }

    // Writes this thread's open chunk to the file.
    SpoolBuilder& flush(uint32_t tid)
    {
        auto& buf = m_open[tid];
        if (buf.empty())
            return *this;
        wire::ChunkHeader c { wire::kChunkMagic, static_cast<uint32_t>(buf.size()), tid, 0 };
        append(m_bytes, &c, sizeof(c));
        append(m_bytes, buf.data(), buf.size());
        buf.clear();
        return *this;
    }

    // --- record shortcuts ---
    SpoolBuilder& hostAlloc(
        uint32_t tid, uint64_t ts, uint64_t addr, uint64_t size, uint32_t stack = 0, uint32_t range = 0)
    {
        auto r = make<wire::HostAllocRecord>(wire::Kind::HostAlloc);
        r.api = static_cast<uint16_t>(Api::Malloc);
        r.ts_ns = ts;
        r.address = addr;
        r.size = size;
        r.stack_id = stack;
        r.range_id = range;
        return add(tid, r);
    }
    SpoolBuilder& hostFree(uint32_t tid, uint64_t ts, uint64_t addr)
    {
        auto r = make<wire::HostFreeRecord>(wire::Kind::HostFree);
        r.api = static_cast<uint16_t>(Api::Free);
        r.ts_ns = ts;
        r.address = addr;
        return add(tid, r);
    }
    SpoolBuilder& alloc(uint32_t tid, uint64_t ts, SpaceKind space, uint8_t device, uint64_t addr, uint64_t size,
        uint32_t source, Api api = Api::CudaMalloc)
    {
        auto r = make<wire::AllocRecord>(wire::Kind::Alloc);
        r.api = static_cast<uint16_t>(api);
        r.space_kind = static_cast<uint8_t>(space);
        r.device = device;
        r.ts_ns = ts;
        r.address = addr;
        r.size = size;
        r.source = source;
        return add(tid, r);
    }
    SpoolBuilder& free(uint32_t tid, uint64_t ts, SpaceKind space, uint8_t device, uint64_t addr, uint32_t source,
        Api api = Api::CudaFree)
    {
        auto r = make<wire::FreeRecord>(wire::Kind::Free);
        r.api = static_cast<uint16_t>(api);
        r.space_kind = static_cast<uint8_t>(space);
        r.device = device;
        r.ts_ns = ts;
        r.address = addr;
        r.source = source;
        return add(tid, r);
    }
    SpoolBuilder& string(uint32_t tid, uint32_t id, std::string_view text)
    {
        auto r = make<wire::StringRecord>(wire::Kind::String);
        r.id = id;
        r.len = static_cast<uint32_t>(text.size());
        return add(tid, r, text);
    }
    SpoolBuilder& stack(uint32_t tid, uint32_t id, const std::vector<uint64_t>& ipsInnermostFirst)
    {
        auto r = make<wire::StackRecord>(wire::Kind::Stack);
        r.id = id;
        r.depth = static_cast<uint16_t>(ipsInnermostFirst.size());
        return add(tid, r,
            std::string_view(reinterpret_cast<const char*>(ipsInnermostFirst.data()), ipsInnermostFirst.size() * 8));
    }
    // A stack of `depth` frames whose outermost `shared` come from stack `parent`; own = the rest.
    SpoolBuilder& stackSharing(uint32_t tid, uint32_t id, uint32_t parent, uint16_t shared,
        const std::vector<uint64_t>& ownInnermostFirst)
    {
        auto r = make<wire::StackRecord>(wire::Kind::Stack);
        r.id = id;
        r.parent = parent;
        r.shared = shared;
        r.depth = static_cast<uint16_t>(ownInnermostFirst.size() + shared);
        return add(tid, r,
            std::string_view(reinterpret_cast<const char*>(ownInnermostFirst.data()), ownInnermostFirst.size() * 8));
    }
    SpoolBuilder& module(uint32_t tid, uint64_t ts, std::string_view path, uint64_t bias, uint64_t start, uint64_t end)
    {
        auto r = make<wire::ModuleRecord>(wire::Kind::Module);
        r.path_len = static_cast<uint32_t>(path.size());
        r.ts_ns = ts;
        r.load_bias = bias;
        r.vaddr_start = start;
        r.vaddr_end = end;
        return add(tid, r, path);
    }
    SpoolBuilder& processInfo(uint32_t tid, uint64_t ts, std::string_view exe, std::string_view cmdline)
    {
        auto r = make<wire::ProcessInfoRecord>(wire::Kind::ProcessInfo);
        r.pid = m_pid;
        r.exe_len = static_cast<uint32_t>(exe.size());
        r.cmdline_len = static_cast<uint32_t>(cmdline.size());
        r.ts_ns = ts;
        return add(tid, r, std::string(exe) + std::string(cmdline));
    }
    SpoolBuilder& exit(uint32_t tid, uint64_t ts, wire::ExitReason reason = wire::ExitReason::Exit)
    {
        auto r = make<wire::ProcessExitRecord>(wire::Kind::ProcessExit);
        r.reason = static_cast<uint32_t>(reason);
        r.ts_ns = ts;
        return add(tid, r);
    }
    SpoolBuilder& rangeBegin(uint32_t tid, uint64_t ts, uint32_t id, uint32_t parent, uint32_t nameId,
        wire::RangeKind kind = wire::RangeKind::Push)
    {
        auto r = make<wire::RangeBeginRecord>(wire::Kind::RangeBegin);
        r.range_kind = static_cast<uint8_t>(kind);
        r.range_id = id;
        r.parent_id = parent;
        r.name_id = nameId;
        r.ts_ns = ts;
        return add(tid, r);
    }
    SpoolBuilder& rangeEnd(uint32_t tid, uint64_t ts, uint32_t id)
    {
        auto r = make<wire::RangeEndRecord>(wire::Kind::RangeEnd);
        r.range_id = id;
        r.ts_ns = ts;
        return add(tid, r);
    }

    // Flushes every thread and writes the file, optionally dropping the last `cutBytes` bytes.
    std::filesystem::path write(const std::filesystem::path& dir, size_t cutBytes = 0)
    {
        for (auto& [tid, buf] : m_open)
            flush(tid);
        std::filesystem::create_directories(dir);
        auto path = dir / (std::to_string(m_pid) + "." + std::to_string(m_imageSeq) + ".tmspool");
        std::ofstream(path, std::ios::binary)
            .write(
                reinterpret_cast<const char*>(m_bytes.data()), static_cast<std::streamsize>(m_bytes.size() - cutBytes));
        return path;
    }

private:
    static void append(std::vector<uint8_t>& out, const void* p, size_t n)
    {
        auto* b = static_cast<const uint8_t*>(p);
        out.insert(out.end(), b, b + n);
    }
    uint32_t m_pid, m_imageSeq;
    std::vector<uint8_t> m_bytes;
    std::map<uint32_t, std::vector<uint8_t>> m_open;
};

} // namespace tidemark::testing
