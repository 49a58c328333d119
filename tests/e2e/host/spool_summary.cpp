// Implementation of the test-side spool digest (see spool_summary.h).
#include "spool_summary.h"

#include "trace/enums.h"
#include "trace/stack_frames.h"

#include <algorithm>
#include <cstring>
#include <dirent.h>

namespace tidemark::test {

namespace {

struct Event {
    uint64_t ts;
    uint64_t seq;
    bool alloc;
    uint16_t api;
    uint64_t address;
    uint64_t size;
    uint32_t stack;
};

template <typename T> T recordAs(const wire::RecordHeader& h)
{
    T r;
    std::memcpy(&r, &h, sizeof(T));
    return r;
}

const char* tail(const wire::RecordHeader& h, size_t fixed) { return reinterpret_cast<const char*>(&h) + fixed; }

void handleMeta(const wire::RecordHeader& h, SpoolSummary& out)
{
    switch (wire::Kind(h.kind)) {
    case wire::Kind::ProcessInfo: {
        auto r = recordAs<wire::ProcessInfoRecord>(h);
        out.exe.assign(tail(h, sizeof(r)), r.exe_len);
        std::string cmd(tail(h, sizeof(r)) + r.exe_len, r.cmdline_len);
        size_t pos = 0;
        while (pos < cmd.size()) {
            size_t end = cmd.find('\0', pos);
            if (end == std::string::npos)
                end = cmd.size();
            out.argv.push_back(cmd.substr(pos, end - pos));
            pos = end + 1;
        }
        break;
    }
    case wire::Kind::ProcessExit: out.exitReasons.push_back(recordAs<wire::ProcessExitRecord>(h).reason); break;
    case wire::Kind::ThreadName: {
        auto r = recordAs<wire::ThreadNameRecord>(h);
        out.threadNames[r.tid].assign(tail(h, sizeof(r)), r.name_len);
        break;
    }
    case wire::Kind::Module: {
        auto r = recordAs<wire::ModuleRecord>(h);
        out.modules.push_back({ std::string(tail(h, sizeof(r)), r.path_len), r.load_bias, r.vaddr_start, r.vaddr_end,
            r.build_id_len });
        break;
    }
    case wire::Kind::ModuleUnload: out.moduleUnloads++; break;
    case wire::Kind::Stack: {
        std::vector<uint64_t> ips;
        trace::stackFrames(reinterpret_cast<const wire::StackRecord&>(h), out.stacks, ips);
        out.stacks[reinterpret_cast<const wire::StackRecord&>(h).id] = std::move(ips);
        break;
    }
    case wire::Kind::Stat: {
        auto r = recordAs<wire::StatRecord>(h);
        std::string name(tail(h, sizeof(r)), r.name_len);
        out.stats[name] = r.value;
        out.details[name].assign(tail(h, sizeof(r)) + r.name_len, r.detail_len);
        break;
    }
    default: break;
    }
}

} // namespace

bool summarizeSpool(const std::string& path, SpoolSummary& out, std::string& error, uint64_t markBegin,
    uint64_t markEnd)
{
    auto reader = trace::SpoolReader::open(path);
    if (!reader) {
        error = reader.error().message;
        return false;
    }
    out.path = path;
    out.header = reader->header();
    std::vector<Event> events;
    std::map<uint32_t, int> window; // tid -> 0 before, 1 inside, 2 after
    std::map<uint32_t, uint64_t> pendingMarker; // tid -> address of a marker block (its free is skipped)
    bool windowed = markBegin != 0;
    uint64_t seq = 0;
    out.scan = reader->forEach([&](uint32_t tid, const wire::RecordHeader& h) {
        if (h.kind == uint16_t(wire::Kind::HostAlloc)) {
            auto r = recordAs<wire::HostAllocRecord>(h);
            out.hostEvents++;
            out.lastEventNs = std::max(out.lastEventNs, r.ts_ns);
            if (windowed && (r.size == markBegin || r.size == markEnd) && r.api == uint16_t(Api::Malloc)) {
                window[tid] = r.size == markBegin ? 1 : 2;
                if (r.size == markEnd)
                    out.markerThreads.insert(tid);
                pendingMarker[tid] = r.address;
                return;
            }
            if (!windowed || window[tid] == 1)
                events.push_back({ r.ts_ns, seq++, true, r.api, r.address, r.size, r.stack_id });
        } else if (h.kind == uint16_t(wire::Kind::HostFree)) {
            auto r = recordAs<wire::HostFreeRecord>(h);
            out.hostEvents++;
            out.lastEventNs = std::max(out.lastEventNs, r.ts_ns);
            if (windowed && pendingMarker.count(tid) && pendingMarker[tid] == r.address) {
                pendingMarker.erase(tid);
                return;
            }
            if (!windowed || window[tid] == 1)
                events.push_back({ r.ts_ns, seq++, false, r.api, r.address, 0, 0 });
        } else {
            handleMeta(h, out);
        }
    });
    // Replay in time order; a free and an alloc with the same timestamp: the free goes first.
    std::stable_sort(events.begin(), events.end(), [](const Event& a, const Event& b) {
        return a.ts != b.ts ? a.ts < b.ts : (!a.alloc && b.alloc);
    });
    for (const Event& e : events) {
        if (e.alloc) {
            out.allocs[e.api].count++;
            out.allocs[e.api].bytes += e.size;
            out.live[e.address] = { e.size, e.api, e.stack };
            out.liveBytes += e.size;
            out.peakBytes = std::max(out.peakBytes, out.liveBytes);
        } else {
            out.frees[e.api]++;
            auto it = out.live.find(e.address);
            if (it == out.live.end()) {
                out.unmatchedFrees++;
                continue;
            }
            out.liveBytes -= it->second.size;
            out.live.erase(it);
        }
    }
    return true;
}

std::vector<std::string> spoolFilesIn(const std::string& dir)
{
    std::vector<std::string> files;
    if (DIR* d = opendir(dir.c_str())) {
        while (dirent* e = readdir(d)) {
            std::string name = e->d_name;
            if (name.size() > 8 && name.compare(name.size() - 8, 8, ".tmspool") == 0)
                files.push_back(dir + "/" + name);
        }
        closedir(d);
    }
    std::sort(files.begin(), files.end());
    return files;
}

} // namespace tidemark::test
