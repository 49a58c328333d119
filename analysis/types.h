// Plain result types of the analysis API (tidemark::analysis): what the CLI, the GUI and the CI
// gate receive from queries. No SQL and no SQLite types here, so presenters depend only on data.
// Units are in field names: *Ns are CLOCK_MONOTONIC nanoseconds of the recording, *Bytes are bytes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace tidemark::analysis {

using TimeNs = int64_t;

// ---- recording-level facts ------------------------------------------------------------------

struct SpaceInfo {
    int64_t id = 0;
    std::string name;                     // host, cuda:0, pinned, managed, pool:cuda:0, ...
    std::string kind;                     // host | device | pinned | managed | pool
    std::optional<int64_t> device;        // device ordinal for device and pool spaces
    std::optional<int64_t> capacityBytes; // device total memory when known
    std::optional<int64_t> parentSpaceId; // pool: the space its heaps live in
    bool isPool() const { return kind == "pool"; }
};

struct ProcessInfo {
    int64_t id = 0;
    int64_t pid = 0;
    std::string exe;
    std::string commandLine;
    std::optional<int64_t> rank;
    std::string host;
    std::optional<TimeNs> startNs;
    std::optional<TimeNs> endNs;
    std::string endReason; // exit | exec | cut_short | not_followed | "" (unknown)
};

// Per-space totals and peak (the peak of a pool space is its in-use peak; reservedPeakBytes is
// the peak of the heaps registered in it).
struct SpaceSummary {
    SpaceInfo space;
    int64_t allocations = 0;
    int64_t frees = 0;
    int64_t allocatedBytes = 0; // sum of all allocation sizes
    int64_t liveAtEndCount = 0;
    int64_t liveAtEndBytes = 0;
    int64_t peakBytes = 0;
    TimeNs peakNs = 0;
    std::optional<int64_t> reservedPeakBytes; // pools only
    std::optional<TimeNs> reservedPeakNs;
};

struct Summary {
    std::string path;
    std::string program;     // executable of the first process (or meta.program)
    std::string commandLine;
    TimeNs startNs = 0;
    TimeNs endNs = 0;
    TimeNs durationNs = 0;
    std::optional<int64_t> exitStatus; // the target's exit status as `record` returned it
    std::string endReason;             // of the first process
    bool cutShort = false;             // the run ended without a clean exit (crash, kill, tracking off)
    std::string cutShortDetail;
    int64_t processes = 0;
    int64_t threads = 0;
    int64_t allocations = 0;
    int64_t frees = 0;
    int64_t failedAllocations = 0;
    int64_t ranges = 0;
    int64_t kernels = 0;
    int64_t memcpys = 0;
    int64_t memsets = 0;
    int64_t invalidLifetimes = 0; // rows whose free precedes their allocation (counted, then ignored)
    // Rows that contradict the rest of the recording: a damaged or hand-edited file. Each is counted
    // so the report can say the figures stand on unsound data instead of presenting them as sound.
    struct Inconsistencies {
        int64_t negativeSizes = 0;    // allocations with size_bytes < 0
        int64_t danglingCallsites = 0; // allocations naming a callsite that is not in callsites
        int64_t danglingSpaces = 0;    // ... a space not in spaces (never counted in any space)
        int64_t danglingRanges = 0;    // ... a range not in ranges
        // Call sites whose parent is missing or not older than they are (writers add a parent before its
        // children, so a parent id >= the child's is a loop in the tree), or whose frame is missing.
        int64_t brokenCallsites = 0;
        int64_t backwardSpans = 0; // ranges, kernels, copies and memsets that end before they start
        int64_t total() const
        {
            return negativeSizes + danglingCallsites + danglingSpaces + danglingRanges + brokenCallsites + backwardSpans;
        }
    } inconsistencies;
    bool finalized = false;       // level-of-detail series present
    std::vector<ProcessInfo> processList;
    std::vector<SpaceSummary> spaces;
};

// ---- call sites and phases ------------------------------------------------------------------

// One source location (a frame, or one level of an inline chain).
struct Location {
    std::string function; // demangled when symbolized; "0x..." otherwise
    std::string file;
    int64_t line = 0;
    std::string module; // basename of the module path
    int64_t frameId = 0;
    bool inlined = false;
    bool python = false; // a Python function (file is its source file; no module)
    std::string label() const; // "function (file:line)"
};

// The site of an allocation: the first frame that is not inside an allocator, the interposer,
// libc or libstdc++'s operator new (see docs/analysis.md).
struct Site {
    std::string key;   // grouping key: identical code locations reached from different stacks merge
    std::string label; // what a person reads: "function (file:line)"
    Location location;
    int64_t callsiteId = 0; // a representative leaf callsite (for stack() and trees)
};

// ---- timeline ---------------------------------------------------------------------------------

// One pixel column (or one series bucket): the live-bytes envelope over [startNs, endNs).
struct TimelineBucket {
    TimeNs startNs = 0;
    TimeNs endNs = 0;
    int64_t minLiveBytes = 0;
    int64_t maxLiveBytes = 0;
    int64_t lastLiveBytes = 0;
    int64_t allocs = 0;
    int64_t frees = 0;
    int64_t reservedMaxBytes = 0;  // pools: heaps registered (reserved) in this column
    int64_t reservedLastBytes = 0; // pools
};

struct Timeline {
    int64_t spaceId = 0;
    TimeNs t0 = 0;
    TimeNs t1 = 0;
    bool exact = false;       // computed from events rather than from the level-of-detail series
    int level = -1;           // series level used, -1 when exact
    bool hasReserved = false; // pool: reserved fields are filled
    std::vector<TimelineBucket> buckets;
};

// ---- live sets, breakdowns, peak ------------------------------------------------------------

struct BreakdownRow {
    std::string key;   // stable grouping key (site key, phase path, api name, region name)
    std::string label; // human label
    int64_t bytes = 0;
    int64_t count = 0;
    double share = 0.0;           // bytes / total of the breakdown
    int64_t exampleCallsiteId = 0; // a leaf callsite of the group (0 = none)
};

// What was live in a space at one instant, broken down.
struct LiveSet {
    int64_t spaceId = 0;
    TimeNs ts = 0;
    int64_t totalBytes = 0;
    int64_t count = 0;
    std::vector<BreakdownRow> bySite;
    std::vector<BreakdownRow> byPhase; // normalized NVTX phase path, e.g. step/forward/layer3
    std::vector<BreakdownRow> byApi;
    std::vector<BreakdownRow> byName; // region / tensor names when present
};

struct Allocation {
    int64_t id = 0;
    int64_t spaceId = 0;
    int64_t address = 0;
    int64_t sizeBytes = 0;
    TimeNs allocNs = 0;
    std::optional<TimeNs> freeNs;
    std::string api;
    int64_t threadId = 0;
    int64_t callsiteId = 0;
    int64_t rangeId = 0;
    int64_t heapId = 0;
    std::string name;
    std::string phase; // normalized phase path
};

struct Peak {
    int64_t spaceId = 0;
    std::string spaceName;
    int64_t bytes = 0;
    TimeNs ts = 0;
    std::string phaseAtPeak; // the innermost phase open at the peak (first process), if any
    std::optional<int64_t> reservedBytesAtPeak; // pools
    LiveSet live;
    std::vector<std::string> explanation; // sentences a person can act on
};

// What happened inside [t0, t1): allocated and freed, by site.
struct WindowActivity {
    int64_t spaceId = 0;
    TimeNs t0 = 0;
    TimeNs t1 = 0;
    int64_t allocatedCount = 0;
    int64_t allocatedBytes = 0;
    int64_t freedCount = 0;
    int64_t freedBytes = 0;
    int64_t liveAtStartBytes = 0;
    int64_t liveAtEndBytes = 0;
    std::vector<BreakdownRow> allocatedBySite;
    std::vector<BreakdownRow> freedBySite;
};

// ---- leaks and growth -----------------------------------------------------------------------

struct LeakSite {
    Site site;
    std::string phase; // most common phase of the leaked allocations
    int64_t bytes = 0;
    int64_t count = 0;
    TimeNs firstNs = 0;
    TimeNs lastNs = 0;
    int64_t stepsWithLeak = 0;   // distinct steps in which the site left memory behind
    double bytesPerStep = 0.0;   // bytes / steps of the run (0 without steps)
    bool isLeak = false;         // repeated over the run (a leak); false = allocated once, kept to the end
};

struct Leaks {
    int64_t spaceId = 0;
    std::string spaceName;
    int64_t liveAtEndBytes = 0;   // everything live at the end, before exclusions
    int64_t liveAtEndCount = 0;
    int64_t poolReservedBytes = 0; // live at end but backing a pool heap: cached, not leaked
    int64_t leakedBytes = 0;       // sites classified as leaks
    int64_t leakedCount = 0;
    int64_t retainedBytes = 0;     // live at end, allocated once (not classified as a leak)
    int64_t steps = 0;             // step ranges in the recording (0 = none)
    bool cutShort = false;         // the capture did not end at a process exit (crash, kill, snapshot):
                                   // live at the end is listed but no site is called a leak
    std::vector<LeakSite> sites;   // leaks first, then retained, by bytes
};

struct StepPoint {
    int64_t index = 0; // step number from its name when present, else ordinal
    TimeNs ts = 0;     // the boundary (start of the step)
    int64_t liveBytes = 0;
};

struct GrowthSite {
    Site site;
    std::string phase;
    int64_t bytes = 0; // allocated after the first boundary and still live at the last one
    int64_t count = 0;
    double bytesPerStep = 0.0;
};

struct Growth {
    int64_t spaceId = 0;
    std::string spaceName;
    std::string method;  // "steps" (NVTX step ranges) or "regression" (live bytes over time)
    std::string stepName; // step | iteration | epoch | ""
    std::vector<StepPoint> points;
    double bytesPerStep = 0.0;   // slope over step boundaries (steps method)
    double bytesPerSecond = 0.0; // slope over time (both methods)
    double r2 = 0.0;
    bool growing = false;
    std::vector<GrowthSite> sites;
};

// ---- churn ---------------------------------------------------------------------------------

struct ChurnSite {
    Site site;
    int64_t allocations = 0;
    int64_t temporaries = 0;
    int64_t temporaryBytes = 0;
    double allocationsPerSecond = 0.0;
    TimeNs medianLifetimeNs = 0;
    // False when the median is at most Churn::untimedUpToNs: such a lifetime was not measured.
    bool medianLifetimeTimed = true;
};

struct Churn {
    int64_t spaceId = 0;
    std::string spaceName;
    TimeNs windowNs = 0; // "short window" used for the second temporary rule
    // tidemark's capture gives a host heap event the thread's previous timestamp + 1 ns between
    // clock reads (one at least every kCaptureTsCredit events), so a lifetime of at most that many
    // ns says the free came soon after in events, not in time: it is not a measured duration. 0 when
    // every timestamp was read from a clock (imports, device spaces).
    TimeNs untimedUpToNs = 0;
    int64_t allocations = 0;
    int64_t temporaries = 0;
    int64_t temporaryBytes = 0;
    double allocationsPerSecond = 0.0;
    std::vector<ChurnSite> sites; // by temporaries, then allocations
};

// ---- fragmentation, segment map, OOM ---------------------------------------------------------

struct Extent {
    int64_t offset = 0; // from the heap's base address
    int64_t sizeBytes = 0;
};

struct Block {
    int64_t allocationId = 0;
    int64_t offset = 0;
    int64_t sizeBytes = 0;
    std::string site;
    std::string name;
    std::string phase;
};

struct HeapMap {
    int64_t heapId = 0;
    int64_t address = 0;
    int64_t sizeBytes = 0;
    std::string usage;
    std::string name;
    std::vector<Block> blocks; // by offset
    std::vector<Extent> free;  // by offset
    int64_t usedBytes = 0;
    int64_t freeBytes = 0;
    int64_t largestFreeBytes = 0;
    double fragmentation = 0.0; // 1 - largest free extent / total free (0 when nothing is free)
};

struct SegmentMap {
    int64_t spaceId = 0;
    TimeNs ts = 0;
    std::vector<HeapMap> heaps;
    int64_t reservedBytes = 0;
    int64_t usedBytes = 0;
    int64_t freeBytes = 0;
    int64_t largestFreeBytes = 0;
    double fragmentation = 0.0;
};

struct FragmentationPoint {
    TimeNs ts = 0;
    int64_t reservedBytes = 0;
    int64_t usedBytes = 0;
    int64_t freeBytes = 0;
    int64_t largestFreeBytes = 0;
    int64_t strandedBytes = 0; // free bytes outside the largest free extent (no single request can use them)
    double fragmentation = 0.0;
};

struct SizeBin {
    int64_t upToBytes = 0; // upper bound of the bin (powers of two)
    int64_t count = 0;
    int64_t bytes = 0;
};

struct Fragmentation {
    int64_t spaceId = 0;
    std::string spaceName;
    int64_t heaps = 0;
    int64_t medianRequestBytes = 0;
    std::vector<FragmentationPoint> points; // over time
    FragmentationPoint worst;               // the most stranded bytes (ties: highest fragmentation)
    double meanFragmentation = 0.0;         // time-weighted over the points
    std::vector<BreakdownRow> pinningSites; // at the worst point: live blocks adjacent to free extents
    std::vector<SizeBin> freeExtentSizes;   // at the worst point
    std::vector<SizeBin> requestSizes;      // all regions of the pool
    std::string explanation;
};

struct OomEvent {
    int64_t id = 0;
    int64_t spaceId = 0;
    std::string spaceName;
    TimeNs ts = 0;
    int64_t requestBytes = 0;
    std::string api;
    std::string errorName;
    Site site;
    std::string phase;
    std::string verdict; // capacity | fragmentation | outside_process | unknown
    std::string explanation;
    std::optional<int64_t> capacityBytes;
    std::optional<int64_t> deviceFreeBytes;
    int64_t liveBytes = 0;                  // this process, this space, at the failure
    std::optional<int64_t> heldOutsideBytes; // capacity - free - live, when known
    std::optional<int64_t> poolFreeBytes;    // pools over this device at the failure
    std::optional<int64_t> poolLargestFreeBytes;
    std::vector<BreakdownRow> liveBySite;
};

// ---- call-site trees ------------------------------------------------------------------------

enum class TreeWeight { PeakBytes, LeakedBytes, AllocationCount, AllocatedBytes };
enum class TreeDirection { TopDown, BottomUp };

struct TreeNode {
    Location location;
    std::string label;
    int parent = -1;
    std::vector<int> children; // sorted by total, largest first
    int64_t self = 0;  // weight of stacks ending here
    int64_t total = 0; // self + children
    int64_t callsiteId = 0; // a callsite that reaches this node (0 for the root)
};

struct CallTree {
    TreeWeight weight = TreeWeight::PeakBytes;
    TreeDirection direction = TreeDirection::TopDown;
    int64_t spaceId = 0;
    std::vector<TreeNode> nodes; // nodes[0] is the root (label "all")
};

// ---- lanes and coverage ---------------------------------------------------------------------

struct RangeSpan {
    int64_t id = 0;
    int64_t parentId = 0;
    int64_t processId = 0;
    int64_t threadId = 0;
    int64_t depth = 0;
    std::string name;
    std::string domain;
    std::string path; // normalized phase path
    TimeNs startNs = 0;
    TimeNs endNs = 0; // the end of the recording when still open
    bool open = false;
    std::optional<int64_t> color;
};

struct KernelSpan {
    int64_t id = 0;
    int64_t device = 0;
    int64_t stream = 0;
    TimeNs startNs = 0;
    TimeNs endNs = 0;
    std::string name;
};

struct CopySpan {
    int64_t id = 0;
    int64_t device = 0;
    int64_t stream = 0;
    TimeNs startNs = 0;
    TimeNs endNs = 0;
    int64_t sizeBytes = 0;
    std::string kind; // HtoD | DtoH | DtoD | ... | memset
};

struct FailedAllocation {
    int64_t id = 0;
    int64_t spaceId = 0;
    TimeNs ts = 0;
    int64_t sizeBytes = 0;
    std::string api;
    std::string errorName;
    int64_t callsiteId = 0;
};

struct CoverageItem {
    int64_t processId = 0;
    std::string source; // preload | cupti | nvtx | collector | import
    std::string name;
    std::optional<int64_t> value;
    std::string detail;
};

struct Coverage {
    std::vector<CoverageItem> items;
    std::vector<std::string> warnings; // dropped events, unmatched frees, sources off
};

} // namespace tidemark::analysis
