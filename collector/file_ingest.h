// Ingest of one spool file (one process image). Two passes over the mapped file: first in file
// order for everything that does not depend on time order across threads (metadata, strings, stacks,
// modules, ranges, GPU activity), then merged by timestamp for the records that pair allocations with
// frees, so an address freed by one thread and reused by another pairs correctly.
#pragma once

#include "collector/address_map.h"
#include "collector/ingest.h"
#include "collector/interning.h"
#include "collector/live_series.h"
#include "collector/spool_file.h"

#include <map>
#include <set>
#include <unordered_map>
#include <vector>

namespace tidemark::collector {

// State shared by all files of a recording.
struct IngestContext {
    RowWriter& out;
    IngestOptions options;
    StringTable strings;
    SpaceTable spaces;
    CallsiteTrie trie;
    LiveSeries series;
    std::unordered_map<int64_t, std::pair<std::string, std::string>> moduleFiles; // id -> path, build id
    int64_t next_module = 1, next_thread = 1, next_range = 1, next_mark = 1, next_heap = 1;
    int64_t next_failed = 1;
    std::set<int64_t> pythonSymbolRows {}; // frame rows of Python frames whose symbols row is written
};

// The records pass 2 visits in time order: those that change what is live.
bool isMemoryKind(wire::Kind k);

// A record as its kind's struct (the spool reader checked its size against the kind).
template <typename T> const T& recordAs(const wire::RecordHeader& r)
{
    return reinterpret_cast<const T&>(r);
}

struct ProcessPlan {
    int64_t id = 0;
    int64_t parent_id = 0;
};

struct FileCounters {
    uint64_t allocations = 0, allocation_bytes = 0, frees = 0, unmatched_frees = 0, still_live = 0;
    uint64_t merged_allocations = 0; // the same allocation seen by a second source: stored once
    uint64_t merged_failures = 0; // the same failed allocation seen by a second source
    uint64_t duplicate_frees = 0; // its free seen by the second source
    uint64_t replaced_live = 0; // an address allocated again by the same source while live
    uint64_t failed = 0, regions_closed_by_heap = 0, open_ranges = 0, unknown_stacks = 0;
    uint64_t unknown_heaps = 0, unknown_regions = 0, orphan_range_ends = 0;
};

class FileIngest {
public:
    FileIngest(IngestContext& ctx, SpoolFile& file, const ProcessPlan& plan);
    // What the file holds so far (its process may still be writing it); `final` once it is
    // complete: the rest, then the rows written at the end (live at exit, threads, counters).
    // While the process runs, at most `limit` memory records per call; returns how many were paired.
    uint64_t step(bool final, const std::function<void(double)>& progress = {}, uint64_t limit = UINT64_MAX);
    const ProcessPlan& plan() const { return m_plan; }


    const FileCounters& counters() const { return m_count; }
    // The host-space frees that matched no allocation of this image, in time order (at most
    // kKeptUnmatchedFrees): in a forked child, frees of blocks inherited from the parent.
    struct UnmatchedFree {
        uint64_t address, ts;
    };
    static constexpr size_t kKeptUnmatchedFrees = size_t(1) << 20;
    std::vector<UnmatchedFree> takeUnmatchedHostFrees() { return std::move(m_unmatchedHost); }
    int64_t hostSpace() const { return m_hostSpace; }
    bool cutShort() const;
    std::string cutShortDetail() const;

private:
    struct Live { // an allocation not yet written: its row (and id) is written when it ends
        int64_t space, thread;
        uint64_t address, size, ts;
        int64_t callsite, range, heap, name;
        uint64_t stream;
        uint32_t mask;
        uint16_t api;
        uint32_t primary = 0; // the source whose stack, range, thread and api the row carries
    };
    struct Closed { // recently freed non-host allocation, for frees/allocs reported late by another source
        int64_t id;
        uint64_t alloc_ts, free_ts;
        uint32_t mask, freed_mask;
    };
    struct RecentFailure { // for the same failure reported by the hook and the CUPTI callback
        int64_t id, space, thread;
        uint64_t size, ts;
        uint32_t mask;
    };
    struct Heap {
        int64_t id, pool_space, name, callsite, range;
        uint64_t address, size, ts;
        uint16_t usage;
        std::set<uint64_t> regions;
    };
    struct Thread {
        int64_t id;
        std::string name;
        uint64_t first_ts = UINT64_MAX, last_ts = 0;
    };
    struct OpenRange {
        int64_t id, thread, parent, domain, name;
        uint32_t depth, category, color;
        uint8_t kind;
        uint64_t start_ts;
    };
    // A stack's own frames are m_stackIps[offset, offset + depth - shared), innermost first; its
    // outermost `shared` frames are those of stack `parent` (wire.h).
    struct StackRef {
        size_t offset;
        uint16_t depth;
        uint16_t shared;
        uint32_t parent;
        int64_t callsite = -1; // -1 until first used
        bool clean = false;    // every frame is a level of the trie: callsite's depth is depth - 1
    };

    // pass 1 (file order)
    void onFileOrder(uint32_t tid, const wire::RecordHeader& r);
    void onProcessInfo(const wire::ProcessInfoRecord& r);
    void onModule(const wire::ModuleRecord& r);
    void onStat(const wire::StatRecord& r);
    void onRangeBegin(uint32_t tid, const wire::RangeBeginRecord& r);
    void onRangeEnd(const wire::RangeEndRecord& r);
    void writeRange(const OpenRange& r, std::optional<int64_t> end);
    void onActivity(const wire::RecordHeader& r);
    void finishMetadata();
    // pass 2 (time order)
    void onTimeOrder(uint32_t tid, const wire::RecordHeader& r);
    void onAlloc(uint32_t tid, Live live, uint32_t source, uint64_t ts);
    void onFree(int64_t space, uint64_t address, uint16_t api, uint32_t source, uint64_t ts);
    void onAllocFailed(uint32_t tid, const wire::AllocFailedRecord& r);
    void onHeapRegister(const wire::HeapRegisterRecord& r);
    void onHeapEvent(const wire::HeapEventRecord& r, bool unregister);
    void onRegionRegister(uint32_t tid, const wire::RegionRegisterRecord& r);
    void onRegionEvent(uint32_t tid, const wire::RegionEventRecord& r, wire::Kind kind);
    void writeHeap(const Heap& h, std::optional<int64_t> unregisterTs);
    void mergeInto(Live& cur, const Live& other, uint32_t source, uint64_t ts);
    int64_t writeAllocation(const Live& live, std::optional<int64_t> freeTs, std::optional<int64_t> freeApi);
    void closeLive(Live& live, uint64_t ts, uint16_t api, uint32_t source);
    void finishMemory();
    void finishProcess();

    Live* findLive(int64_t space, uint64_t address);
    void eraseLive(int64_t space, uint64_t address);
    void addLiveBytes(int64_t space, int64_t delta);
    int64_t parentSpaceOf(uint64_t address) const;
    Heap* heapFor(uint32_t heapFileId, uint64_t address);
    int64_t regionSpace(Heap* heap, uint64_t address, bool create);
    int64_t callsiteOf(uint32_t stackId, uint64_t ts);
    void resolveStack(StackRef& s, uint64_t ts);
    int64_t frameOf(uint64_t ip, uint64_t ts); // frame row of ip, -1 for capture-library frames
    int64_t pythonFrameOf(uint64_t ip);
    bool writePythonSymbol(int64_t frame, uint32_t pyFrameId);
    void finishPythonSymbols();
    void outerFrames(uint32_t stackId, size_t count, std::vector<uint64_t>& out) const;
    int64_t stringOf(uint32_t fileStringId) const;
    int64_t rangeOf(uint32_t fileRangeId) const;
    int64_t threadOf(uint32_t tid);
    Thread& thread(uint32_t tid);
    void seen(uint32_t tid, uint64_t ts);

    IngestContext& m_ctx;
    SpoolFile& m_file;
    const ProcessPlan& m_plan; // the image's, which outlives this ingest (its parent is set at the end)
    FileCounters m_count;

    std::string m_exe, m_cmdline;
    bool m_exited = false;
    uint32_t m_exitReason = 0;
    uint64_t m_exitTs = 0, m_lastTs = 0;
    uint64_t m_memoryRecords = 0; // records pass 2 will visit (for progress)
    uint64_t m_memoryDone = 0; // records pass 2 visited
    bool m_started = false;

    ModuleMap m_modules;
    std::vector<std::pair<ModuleInfo, std::pair<std::string, std::string>>> m_moduleRows; // + path, build id
    std::unordered_map<uint32_t, int64_t> m_stringIds;
    struct PyFrame {
        uint32_t function_id, file_id; // this file's String ids
        int32_t line;
    };
    std::unordered_map<uint32_t, PyFrame> m_pyFrames; // PyFrame id -> its record
    std::vector<std::pair<int64_t, uint32_t>> m_pySymbolsPending; // (frame row, PyFrame id) not yet named
    std::vector<uint64_t> m_stackIps;
    std::unordered_map<uint32_t, StackRef> m_stacks;
    std::unordered_map<uint64_t, std::pair<const ModuleInfo*, int64_t>> m_ipFrames;
    std::unordered_map<uint32_t, Thread> m_threads;
    uint32_t m_lastTid = 0;
    Thread* m_lastThread = nullptr;
    std::unordered_map<uint32_t, std::pair<int64_t, uint32_t>> m_rangeIds; // file id -> (row id, depth)
    std::unordered_map<uint32_t, OpenRange> m_openRanges;
    std::unordered_map<uint32_t, uint64_t> m_earlyRangeEnds; // end seen before begin (another thread)
    std::map<std::pair<uint16_t, std::string>, std::pair<uint64_t, std::string>> m_stats;

    int64_t m_hostSpace = 0;
    std::vector<UnmatchedFree> m_unmatchedHost;
    AddressMap<Live> m_hostLive;
    std::map<std::pair<int64_t, uint64_t>, Live> m_otherLive;
    std::map<std::pair<int64_t, uint64_t>, Closed> m_recentlyClosed;
    std::map<uint64_t, std::pair<int64_t, uint64_t>> m_extents; // live device/pinned/managed: address -> (space, size)
    std::vector<int64_t> m_liveBytes; // by space id
    std::unordered_map<uint32_t, Heap> m_heaps;
    std::map<uint64_t, uint32_t> m_heapsByAddress;
    std::unordered_map<uint64_t, int64_t> m_looseRegions;
    std::vector<RecentFailure> m_recentFailures; // process-wide regions outside any heap -> pool space
};

} // namespace tidemark::collector
