// CUDA memory from an Nsight Systems export. nsys stores each runtime call (name, time, thread, return
// value, correlation id, optional backtrace) but not its arguments: a cudaMalloc's pointer and size are
// only known when the export has CUDA_GPU_MEMORY_USAGE_EVENTS (nsys --cuda-memory-usage=true), joined by
// correlation id. Without them, each free is paired with the most recent unfreed allocation of the same
// kind in its process (LIFO): the counts and the number live at exit are exact, which block a free
// released and the sizes are not (docs/import.md).
#include "analysis/import/nsys_internal.h"

#include "trace/meta_keys.h"
#include "trace/space_names.h"

#include <algorithm>
#include <regex>

namespace tidemark::import {

namespace {

enum class MemClass { Device, Pinned, Managed };

struct ApiInfo {
    MemClass cls;
    bool isFree;
};

std::optional<ApiInfo> classify(std::string name)
{
    static const std::regex kVersion("_v[0-9]+$|_ptsz$|_ptds$");
    name = std::regex_replace(name, kVersion, "");
    static const std::map<std::string, ApiInfo> kApis = {
        { "cudaMalloc", { MemClass::Device, false } }, { "cudaMallocAsync", { MemClass::Device, false } },
        { "cudaMallocFromPoolAsync", { MemClass::Device, false } }, { "cudaMallocPitch", { MemClass::Device, false } },
        { "cudaMalloc3D", { MemClass::Device, false } }, { "cudaMallocManaged", { MemClass::Managed, false } },
        { "cudaMallocHost", { MemClass::Pinned, false } }, { "cudaHostAlloc", { MemClass::Pinned, false } },
        { "cuMemAlloc", { MemClass::Device, false } }, { "cuMemAllocAsync", { MemClass::Device, false } },
        { "cuMemAllocPitch", { MemClass::Device, false } }, { "cuMemAllocManaged", { MemClass::Managed, false } },
        { "cuMemAllocHost", { MemClass::Pinned, false } }, { "cuMemHostAlloc", { MemClass::Pinned, false } },
        { "cudaFree", { MemClass::Device, true } }, { "cudaFreeAsync", { MemClass::Device, true } },
        { "cudaFreeHost", { MemClass::Pinned, true } }, { "cuMemFree", { MemClass::Device, true } },
        { "cuMemFreeAsync", { MemClass::Device, true } }, { "cuMemFreeHost", { MemClass::Pinned, true } },
    };
    auto it = kApis.find(name);
    return it == kApis.end() ? std::nullopt : std::optional<ApiInfo>(it->second);
}

struct UsageEvent {
    int64_t ts, pid, device;
    uint64_t address;
    int64_t bytes;
    bool isFree;
    std::optional<int64_t> correlation;
    bool consumed = false;
};

struct Op {
    int64_t ts = 0;
    int64_t processId = 0;
    std::optional<int64_t> threadId;
    MemClass cls = MemClass::Device;
    bool isFree = false;
    int64_t returnValue = 0;
    std::string apiName;
    std::optional<int64_t> callsite, device;
    const UsageEvent* usage = nullptr; // address and size, when nsys recorded them
};

struct Counters {
    int64_t calls = 0, unpairedFrees = 0, deviceGuessed = 0, usageOnly = 0;
};

std::vector<UsageEvent> loadUsage(NsysExport& x)
{
    std::vector<UsageEvent> out;
    const std::string t = "CUDA_GPU_MEMORY_USAGE_EVENTS";
    if (!x.has(t, "address") || !x.has(t, "memoryOperationType"))
        return out;
    auto st = x.db.prepare("SELECT start, globalPid, deviceId, address, bytes, memoryOperationType, "
        + std::string(x.has(t, "correlationId") ? "correlationId" : "NULL") + " FROM " + t + " ORDER BY start");
    while (st && st->step())
        out.push_back({ st->int64(0), NsysExport::pidOf(st->int64(1)), st->int64(2), static_cast<uint64_t>(st->int64(3)),
            st->int64(4), st->int64(5) == 1, st->isNull(6) ? std::nullopt : std::optional<int64_t>(st->int64(6)) });
    return out;
}

std::map<int64_t, std::vector<SymbolicFrame>> loadCallchains(NsysExport& x)
{
    std::map<int64_t, std::vector<SymbolicFrame>> chains;
    if (!x.has("CUDA_CALLCHAINS", "symbol") || !x.has("CUDA_CALLCHAINS", "stackDepth")
        || !x.has("CUPTI_ACTIVITY_KIND_RUNTIME", "callchainId"))
        return chains;
    // nsys 2022.2 numbers CUDA_CALLCHAINS from 1 while runtime rows refer to them from 0 (seen in a real
    // export: with the shift every chain contains its call's API function, without it fewer than half do).
    auto firstChain = x.db.queryInt("SELECT coalesce(min(id), -1) FROM CUDA_CALLCHAINS");
    auto firstRef = x.db.queryInt("SELECT coalesce(min(callchainId), -1) FROM CUPTI_ACTIVITY_KIND_RUNTIME");
    int64_t shift = firstChain && firstRef && *firstRef >= 0 && *firstChain == *firstRef + 1 ? 1 : 0;
    auto st = x.db.prepare("SELECT id, symbol, " + std::string(x.has("CUDA_CALLCHAINS", "module") ? "module" : "NULL")
        + " FROM CUDA_CALLCHAINS ORDER BY id, stackDepth");
    while (st && st->step())
        chains[st->int64(0) - shift].push_back({ x.str(st->int64(1)), st->isNull(2) ? "" : x.str(st->int64(2)), 0 });
    return chains;
}

// Runtime calls that allocate or free, one per (thread, correlation id): nsys 2022 stores some calls twice
// (the API row and a backtrace row with an unversioned name); the backtrace is kept.
Result<std::vector<Op>> runtimeOps(NsysExport& x, std::vector<UsageEvent>& usage, Counters& c)
{
    std::vector<Op> ops;
    const std::string t = "CUPTI_ACTIVITY_KIND_RUNTIME";
    if (!x.has(t))
        return ops;
    auto chains = loadCallchains(x);
    std::map<int64_t, UsageEvent*> byCorrelation;
    for (UsageEvent& u : usage)
        if (u.correlation)
            byCorrelation[*u.correlation] = &u;
    auto st = x.db.prepare("SELECT start, globalTid, correlationId, nameId, returnValue, "
        + std::string(x.has(t, "callchainId") ? "callchainId" : "NULL") + " FROM " + t + " ORDER BY start");
    if (!st)
        return st.error();
    std::map<int64_t, std::optional<ApiInfo>> kinds; // nameId -> classification
    std::map<std::pair<int64_t, int64_t>, size_t> seen;
    while (st->step()) {
        int64_t nameId = st->int64(3);
        if (!kinds.count(nameId))
            kinds[nameId] = classify(x.str(nameId));
        if (!kinds[nameId])
            continue;
        int64_t gtid = st->isNull(1) ? 0 : st->int64(1);
        std::optional<int64_t> callsite;
        if (!st->isNull(5) && chains.count(st->int64(5)))
            callsite = x.out.callsite(chains[st->int64(5)]);
        if (!st->isNull(2)) {
            auto key = std::make_pair(gtid, st->int64(2));
            if (auto it = seen.find(key); it != seen.end()) {
                if (callsite)
                    ops[it->second].callsite = callsite;
                continue;
            }
            seen[key] = ops.size();
        }
        Op op;
        op.ts = st->int64(0);
        op.threadId = x.thread(gtid);
        op.processId = x.process(NsysExport::pidOf(gtid));
        op.cls = kinds[nameId]->cls;
        op.isFree = kinds[nameId]->isFree;
        op.returnValue = st->int64(4);
        op.apiName = std::regex_replace(x.str(nameId), std::regex("_v[0-9]+$"), "");
        op.callsite = callsite;
        if (!st->isNull(2))
            if (auto u = byCorrelation.find(st->int64(2)); u != byCorrelation.end() && !u->second->consumed) {
                op.usage = u->second;
                u->second->consumed = true;
            }
        ops.push_back(std::move(op));
        ++c.calls;
    }
    if (!st->status())
        return st->status().error();
    return ops;
}

// Replays allocation and free calls in time order and keeps the lifetimes.
class Pairing {
public:
    Pairing(NsysExport& x, Counters& c)
        : m_x(x)
        , m_c(c)
    {
    }

    void replay(const Op& op)
    {
        std::optional<int64_t> range;
        if (op.threadId && m_x.ranges.count(*op.threadId))
            range = m_x.ranges[*op.threadId].innermostAt(op.ts);
        if (op.isFree) {
            if (op.returnValue == 0)
                release(op);
        } else if (op.returnValue != 0) {
            failure(op, range);
        } else {
            allocate(op, range);
        }
    }

    void flush()
    {
        for (const AllocationRow& r : m_rows)
            m_x.out.allocation(r);
    }

private:
    static Api apiOf(const Op& op) { return op.usage && !op.threadId ? Api::NsysMemoryUsage : Api::NsysRuntime; }

    int64_t spaceOf(const Op& op)
    {
        if (op.cls == MemClass::Pinned)
            return m_x.out.namedSpace(SpaceKind::Pinned, trace::spaceName(SpaceKind::Pinned));
        if (op.cls == MemClass::Managed)
            return m_x.out.namedSpace(SpaceKind::Managed, trace::spaceName(SpaceKind::Managed));
        int64_t device = op.usage ? op.usage->device : 0;
        if (!op.usage) {
            // A call without memory-usage data: the process's only device, when it used exactly one.
            int64_t pid = 0;
            for (const auto& [p, id] : m_x.processIds)
                if (id == op.processId)
                    pid = p;
            const auto& devs = m_x.devicesOfPid[pid];
            if (devs.size() == 1)
                device = *devs.begin();
            else
                ++m_c.deviceGuessed;
        }
        return m_x.out.deviceSpace(static_cast<int>(std::clamp<int64_t>(device, 0, 1023)));
    }

    void allocate(const Op& op, std::optional<int64_t> range)
    {
        AllocationRow r { .space_id = spaceOf(op),
            .process_id = op.processId,
            .thread_id = op.threadId,
            .api = apiOf(op),
            .address = op.usage ? static_cast<int64_t>(op.usage->address) : 0,
            .size_bytes = op.usage ? op.usage->bytes : 0,
            .alloc_ts_ns = op.ts,
            .callsite_id = op.callsite,
            .range_id = range,
            .name_id = m_x.out.string(op.usage ? op.apiName : op.apiName + " (size and address not in this export)") };
        if (op.usage)
            m_openByAddress[{ op.processId, op.usage->address }] = m_rows.size();
        else
            m_openUnknown[{ op.processId, op.cls }].push_back(m_rows.size());
        m_rows.push_back(r);
    }

    void release(const Op& op)
    {
        std::optional<size_t> row;
        if (op.usage) {
            if (auto it = m_openByAddress.find({ op.processId, op.usage->address }); it != m_openByAddress.end()) {
                row = it->second;
                m_openByAddress.erase(it);
            }
        } else {
            // cudaFree also frees managed memory; cudaFreeHost only pinned.
            std::vector<MemClass> classes = { op.cls };
            if (op.cls == MemClass::Device)
                classes.push_back(MemClass::Managed);
            for (MemClass cls : classes) {
                auto& stack = m_openUnknown[{ op.processId, cls }];
                if (!row && !stack.empty()) {
                    row = stack.back();
                    stack.pop_back();
                }
            }
        }
        if (!row) {
            ++m_c.unpairedFrees;
            return;
        }
        m_rows[*row].free_ts_ns = op.ts;
        m_rows[*row].free_api = apiOf(op);
    }

    void failure(const Op& op, std::optional<int64_t> range)
    {
        FailedRow f;
        f.space_id = spaceOf(op);
        f.process_id = op.processId;
        f.thread_id = op.threadId;
        f.api = Api::NsysRuntime;
        f.size_bytes = op.usage ? op.usage->bytes : 0;
        f.ts_ns = op.ts;
        f.callsite_id = op.callsite;
        f.range_id = range;
        f.error_code = op.returnValue;
        f.error_name = op.apiName + " returned " + std::to_string(op.returnValue);
        m_x.out.failed(f);
    }

    NsysExport& m_x;
    Counters& m_c;
    std::vector<AllocationRow> m_rows;
    std::map<std::pair<int64_t, uint64_t>, size_t> m_openByAddress;            // (process, address)
    std::map<std::pair<int64_t, MemClass>, std::vector<size_t>> m_openUnknown; // LIFO per (process, kind)
};

void writeUsageSamples(NsysExport& x, const std::vector<UsageEvent>& usage)
{
    std::map<int64_t, int64_t> used; // device -> bytes
    for (const UsageEvent& u : usage) {
        used[u.device] += u.isFree ? -u.bytes : u.bytes;
        x.out.sample({ .process_id = x.process(u.pid),
            .space_id = x.out.deviceSpace(static_cast<int>(std::clamp<int64_t>(u.device, 0, 1023))),
            .ts_ns = u.ts,
            .used_bytes = used[u.device] });
    }
}

} // namespace

Status nsysMemory(NsysExport& x)
{
    Counters c;
    std::vector<UsageEvent> usage = loadUsage(x);
    auto ops = runtimeOps(x, usage, c);
    if (!ops)
        return ops.error();
    for (const UsageEvent& u : usage) // memory nsys saw without a runtime call (driver API, libraries)
        if (!u.consumed) {
            Op op;
            op.ts = u.ts;
            op.processId = x.process(u.pid);
            op.isFree = u.isFree;
            op.apiName = "memory usage event";
            op.usage = &u;
            ops->push_back(op);
            ++c.usageOnly;
        }
    std::stable_sort(ops->begin(), ops->end(), [](const Op& a, const Op& b) { return a.ts < b.ts; });
    Pairing pairing(x, c);
    for (const Op& op : *ops)
        pairing.replay(op);
    pairing.flush();
    writeUsageSamples(x, usage);
    x.out.meta(trace::kMetaNsysMemory,
        usage.empty()
            ? "runtime calls only: this export has no CUDA memory usage events, so allocation sizes and addresses "
              "are unknown (size_bytes 0) and frees are paired with the most recent unfreed allocation (LIFO)"
            : "sizes and addresses from CUDA_GPU_MEMORY_USAGE_EVENTS, joined to runtime calls by correlation id");
    std::optional<int64_t> none;
    x.out.stat(none, "nsys.memory_calls", c.calls);
    x.out.stat(none, "nsys.unpaired_frees", c.unpairedFrees, "frees with no unfreed allocation to pair (e.g. cudaFree(NULL))");
    x.out.stat(none, "nsys.device_unknown", c.deviceGuessed, "allocations of a process that used several or no devices: device 0 assumed");
    x.out.stat(none, "nsys.memory_usage_without_call", c.usageOnly);
    return x.out.status();
}

} // namespace tidemark::import
