// The wire format between the capture library inside the target (interposer/) and the collector
// outside it: an append-only spool file per traced process image, made of chunks of fixed-layout
// records. Every record type lives here with its size pinned, so both sides agree by construction.
//
// File:   SpoolFileHeader, then chunks until end of file.
// Chunk:  ChunkHeader{magic, payload_bytes, tid}, then payload_bytes of records, all from one thread.
// Record: RecordHeader{kind, size_bytes} followed by the kind's fields; size_bytes is a multiple of 8
//         and includes the header and any trailing variable-length data.
// A file cut short (crash, SIGKILL) ends in a partial chunk, which readers drop and count.
// All integers are little-endian, times are CLOCK_MONOTONIC nanoseconds.
#pragma once

#include <cstddef>
#include <cstdint>

namespace tidemark::wire {

constexpr char kSpoolMagic[8] = { 'T', 'M', 'S', 'P', 'O', 'O', 'L', '1' };
constexpr uint32_t kSpoolVersion = 2; // 2: Stack records may share their outer frames with an earlier one
constexpr uint32_t kChunkMagic = 0x4B4E4843; // "CHNK"
constexpr uint32_t kMaxStackDepth = 256;
constexpr uint32_t kMaxStringBytes = 4096; // longer strings are truncated by the writer

struct SpoolFileHeader {
    char magic[8];
    uint32_t version;
    uint32_t header_bytes;
    uint32_t pid;
    uint32_t ppid;
    uint32_t image_seq;   // 0 for the first image of a pid, 1.. after each exec
    uint32_t flags;       // reserved, 0
    uint64_t start_ts_ns; // CLOCK_MONOTONIC when the image started tracking
    uint64_t start_realtime_ns;
    // Set in place when capture stopped because a write to this file failed (a full disk): the
    // header's bytes are already on disk, so this write needs no new space. 0 while capturing.
    uint64_t stopped_ts_ns;
    uint32_t stopped_errno;
    uint32_t reserved32;
    uint64_t reserved[2];
};
static_assert(sizeof(SpoolFileHeader) == 80);

struct ChunkHeader {
    uint32_t magic;
    uint32_t payload_bytes;
    uint32_t tid;
    uint32_t reserved;
};
static_assert(sizeof(ChunkHeader) == 16);

enum class Kind : uint16_t {
    Invalid = 0,
    // process and threads
    ProcessInfo = 1, // exe path and command line of this image
    ProcessExit = 2,
    ThreadName = 3,
    Module = 4,
    ModuleUnload = 5,
    String = 6, // interned string: id -> text (ids are per spool file)
    Stack = 7,  // interned stack: id -> instruction pointers, innermost first
    Stat = 8,   // a capture counter or coverage item
    PyFrame = 9, // a Python function at a line: id -> (file, function, line) strings
    // memory
    HostAlloc = 16, // HostAllocRecord: host heap hot path (source = preload, space = host)
    HostFree = 17,  // HostFreeRecord
    Alloc = 18,     // AllocRecord: any space, any source
    Free = 19,      // FreeRecord
    AllocFailed = 20,
    Sample = 21,
    // NVTX
    RangeBegin = 32,
    RangeEnd = 33,
    Mark = 34,
    HeapRegister = 35,
    HeapUnregister = 36,
    HeapReset = 37,
    RegionRegister = 38,
    RegionUnregister = 39,
    RegionResize = 40,
    RegionName = 41,
    // GPU activity
    Kernel = 48,
    Memcpy = 49,
    Memset = 50,
};

struct RecordHeader {
    uint16_t kind;
    uint16_t size_bytes;
};
static_assert(sizeof(RecordHeader) == 4);

constexpr uint32_t padTo8(uint32_t n) { return (n + 7u) & ~7u; }

// --- process and threads ------------------------------------------------------------------

struct ProcessInfoRecord { // + exe_len bytes of exe path, then cmdline_len bytes (NUL-separated argv)
    RecordHeader h;
    uint32_t pid;
    uint32_t ppid;
    uint32_t exe_len;
    uint32_t cmdline_len;
    uint32_t reserved;
    uint64_t ts_ns;
};
static_assert(sizeof(ProcessInfoRecord) == 32);

enum class ExitReason : uint32_t { Exit = 0, Exec = 1, ForkChildStop = 2, TrackingOff = 3 };

struct ProcessExitRecord {
    RecordHeader h;
    uint32_t reason; // ExitReason
    uint64_t ts_ns;
};
static_assert(sizeof(ProcessExitRecord) == 16);

struct ThreadNameRecord { // + name_len bytes
    RecordHeader h;
    uint32_t tid;
    uint32_t name_len;
    uint32_t reserved;
    uint64_t ts_ns;
};
static_assert(sizeof(ThreadNameRecord) == 24);

struct ModuleRecord { // + path_len bytes
    RecordHeader h;
    uint32_t path_len;
    uint64_t ts_ns;
    uint64_t load_bias;   // dlpi_addr
    uint64_t vaddr_start; // absolute lowest PT_LOAD address
    uint64_t vaddr_end;   // absolute end of the highest PT_LOAD
    uint8_t build_id_len;
    uint8_t reserved[7];
    uint8_t build_id[32];
};
static_assert(sizeof(ModuleRecord) == 80);

struct ModuleUnloadRecord {
    RecordHeader h;
    uint32_t reserved;
    uint64_t ts_ns;
    uint64_t load_bias;
};
static_assert(sizeof(ModuleUnloadRecord) == 24);

struct StringRecord { // + len bytes (not NUL-terminated)
    RecordHeader h;
    uint32_t id; // > 0
    uint32_t len;
    uint32_t reserved;
};
static_assert(sizeof(StringRecord) == 16);

// + (depth - shared) uint64_t instruction pointers, innermost (the allocating caller) first. When
// shared > 0 the stack's outermost `shared` frames are the outermost `shared` frames of stack
// `parent`, whose record came earlier from the same thread (consecutive stacks of a thread mostly
// differ in their innermost frames only). trace/stack_frames.h rebuilds the full list.
struct StackRecord {
    RecordHeader h;
    uint16_t depth;  // frames in the whole stack
    uint16_t shared; // outermost frames taken from parent; 0 = all frames are here
    uint32_t id;     // > 0; unique within the spool file
    uint32_t parent; // when shared > 0: id of a stack with at least `shared` frames
};
static_assert(sizeof(StackRecord) == 16);

// A Stack record's frame value for a Python function at a line: kPythonFrameTag | PyFrame id.
// Never a code address (user space ends at 2^47), so no module ever holds it.
constexpr uint64_t kPythonFrameTag = uint64_t(0x7079) << 48;
constexpr bool isPythonFrame(uint64_t ip) { return (ip >> 48) == 0x7079; }

struct PyFrameRecord {
    RecordHeader h;
    uint32_t id;          // > 0; the frame value kPythonFrameTag | id (ids are per spool file)
    int32_t line;         // line of the instruction running; the code's first line if unknown
    uint32_t function_id; // String ids: qualified name (3.11+) or name, and file name
    uint32_t file_id;
    uint32_t first_line; // the code object's first line
};
static_assert(sizeof(PyFrameRecord) == 24);

enum class StatSource : uint16_t { Preload = 0, Cupti = 1, Nvtx = 2, Cuda = 3, Collector = 4 };

struct StatRecord { // a counter (value) or coverage item (value + detail text); + name_len + detail_len bytes
    RecordHeader h;
    uint16_t source; // StatSource
    uint16_t name_len;
    uint32_t detail_len;
    uint64_t value;
};
static_assert(sizeof(StatRecord) == 24);

// --- memory -------------------------------------------------------------------------------

// space_kind is tidemark::SpaceKind; api is tidemark::Api; source is tidemark::SourceBits.
struct AllocRecord {
    RecordHeader h;
    uint16_t api;
    uint8_t space_kind;
    uint8_t device;
    uint64_t ts_ns;
    uint64_t address;
    uint64_t size;
    uint32_t stack_id; // 0 = no stack
    uint32_t range_id; // innermost NVTX range open on this thread, 0 = none
    uint64_t stream;   // CUDA stream handle, 0 = none/default
    uint32_t source;   // SourceBits
    uint32_t reserved;
};
static_assert(sizeof(AllocRecord) == 56);

// The host heap's hot path: no stream, no source (= kSourcePreload), 40 bytes.
struct HostAllocRecord {
    RecordHeader h;
    uint16_t api;
    uint16_t reserved;
    uint64_t ts_ns;
    uint64_t address;
    uint64_t size;
    uint32_t stack_id;
    uint32_t range_id;
};
static_assert(sizeof(HostAllocRecord) == 40);

struct FreeRecord {
    RecordHeader h;
    uint16_t api;
    uint8_t space_kind;
    uint8_t device;
    uint64_t ts_ns;
    uint64_t address;
    uint32_t source; // SourceBits
    uint32_t reserved;
};
static_assert(sizeof(FreeRecord) == 32);

struct HostFreeRecord {
    RecordHeader h;
    uint16_t api;
    uint16_t reserved;
    uint64_t ts_ns;
    uint64_t address;
};
static_assert(sizeof(HostFreeRecord) == 24);

struct AllocFailedRecord {
    RecordHeader h;
    uint16_t api;
    uint8_t space_kind;
    uint8_t device;
    uint64_t ts_ns;
    uint64_t size;
    uint32_t stack_id;
    uint32_t range_id;
    uint64_t stream;
    int32_t error_code; // cudaError_t / CUresult
    uint32_t source;
    uint64_t device_free_bytes;  // cudaMemGetInfo at failure, UINT64_MAX = unknown
    uint64_t device_total_bytes; // UINT64_MAX = unknown
};
static_assert(sizeof(AllocFailedRecord) == 64);

struct SampleRecord {
    RecordHeader h;
    uint8_t space_kind;
    uint8_t device;
    uint16_t reserved;
    uint64_t ts_ns;
    uint64_t free_bytes;
    uint64_t total_bytes;
};
static_assert(sizeof(SampleRecord) == 32);

// --- NVTX ---------------------------------------------------------------------------------

enum class RangeKind : uint8_t { Push = 0, StartEnd = 1 };

struct RangeBeginRecord {
    RecordHeader h;
    uint8_t range_kind; // RangeKind
    uint8_t reserved[3];
    uint32_t range_id;  // > 0, unique within the spool file
    uint32_t parent_id; // enclosing push range on this thread, 0 = none
    uint32_t domain_id; // string id, 0 = default domain
    uint32_t name_id;   // string id
    uint32_t category;
    uint32_t color;
    uint64_t ts_ns;
};
static_assert(sizeof(RangeBeginRecord) == 40);

struct RangeEndRecord {
    RecordHeader h;
    uint32_t range_id;
    uint64_t ts_ns;
};
static_assert(sizeof(RangeEndRecord) == 16);

struct MarkRecord {
    RecordHeader h;
    uint32_t domain_id;
    uint32_t name_id;
    uint32_t reserved;
    uint64_t ts_ns;
};
static_assert(sizeof(MarkRecord) == 24);

// NVTX memory extension: a heap is a pool segment; regions are sub-allocations inside it.
struct HeapRegisterRecord {
    RecordHeader h;
    uint16_t usage; // nvtxMemHeapUsageType
    uint16_t reserved;
    uint32_t heap_id;   // > 0, the handle we returned
    uint32_t domain_id; // string id
    uint32_t name_id;   // string id, 0 = unnamed
    uint32_t reserved2;
    uint64_t ts_ns;
    uint64_t address;
    uint64_t size;
    uint32_t stack_id;
    uint32_t range_id;
};
static_assert(sizeof(HeapRegisterRecord) == 56);

struct HeapEventRecord { // HeapUnregister and HeapReset
    RecordHeader h;
    uint32_t heap_id;
    uint64_t ts_ns;
};
static_assert(sizeof(HeapEventRecord) == 16);

struct RegionRegisterRecord {
    RecordHeader h;
    uint32_t heap_id; // 0 = process-wide (NVTX_MEM_HEAP_HANDLE_PROCESS_WIDE)
    uint64_t ts_ns;
    uint64_t address;
    uint64_t size;
    uint32_t stack_id;
    uint32_t range_id;
};
static_assert(sizeof(RegionRegisterRecord) == 40);

struct RegionEventRecord { // RegionUnregister (size unused), RegionResize (new size), RegionName (name_id)
    RecordHeader h;
    uint32_t heap_id;
    uint64_t ts_ns;
    uint64_t address;
    uint64_t size;
    uint32_t name_id;
    uint32_t reserved;
};
static_assert(sizeof(RegionEventRecord) == 40);

// --- GPU activity (CUPTI) -----------------------------------------------------------------

struct KernelRecord {
    RecordHeader h;
    uint32_t name_id;
    uint64_t start_ts_ns;
    uint64_t end_ts_ns;
    uint32_t device;
    uint32_t context;
    uint32_t stream;
    uint32_t correlation_id;
    uint32_t grid[3];
    uint32_t block[3];
    uint32_t registers_per_thread;
    uint32_t static_shared_bytes;
    uint32_t dynamic_shared_bytes;
    uint32_t reserved;
};
static_assert(sizeof(KernelRecord) == 80);

struct MemcpyRecord {
    RecordHeader h;
    uint8_t copy_kind; // CUpti_ActivityMemcpyKind
    uint8_t src_kind;  // CUpti_ActivityMemoryKind
    uint8_t dst_kind;
    uint8_t reserved;
    uint64_t start_ts_ns;
    uint64_t end_ts_ns;
    uint64_t bytes;
    uint32_t device;
    uint32_t context;
    uint32_t stream;
    uint32_t correlation_id;
};
static_assert(sizeof(MemcpyRecord) == 48);

struct MemsetRecord {
    RecordHeader h;
    uint32_t value;
    uint64_t start_ts_ns;
    uint64_t end_ts_ns;
    uint64_t bytes;
    uint32_t device;
    uint32_t context;
    uint32_t stream;
    uint32_t correlation_id;
};
static_assert(sizeof(MemsetRecord) == 48);


} // namespace tidemark::wire
