// The in-target event API every capture source uses (host hooks, CUDA hooks, CUPTI, NVTX):
// append a wire record (trace/wire.h) to this thread's buffer, intern a stack or a string, read the
// clock and the thread's current NVTX range. Implemented by the host capture core (writer.cpp).
//
// Rules for callers (see ../shared/reference/capture-design.md §6): everything here is noexcept,
// never allocates through the hooked allocator, takes no lock on the hot path, and does nothing
// when tracking is off (before init, after a fatal error, in an unfollowed fork child).
#pragma once

#include "trace/wire.h"

#include <cstddef>
#include <cstdint>

namespace tidemark::interposer {

// True once the spool file is open and tracking has not been turned off.
bool trackingEnabled() noexcept;

// CLOCK_MONOTONIC in nanoseconds.
uint64_t nowNs() noexcept;

// Appends one complete record (header included, size a multiple of 8) to this thread's buffer.
// Records larger than the buffer are dropped and counted.
void emit(const void* record, size_t bytes) noexcept;

// Captures the calling thread's stack, skipping `skip` innermost frames (the hooks themselves),
// and returns its id in this spool file, emitting a Stack record the first time the stack is seen.
// Returns 0 when stacks are off or nothing could be captured. Frames inside libtidemark.so are always
// dropped whatever `skip` says; `skip` counts from the calling hook (frame 0, one of ours), so 0 or 1
// keep the hook's caller as the innermost frame and 2 drops one foreign wrapper frame as well.
uint32_t captureStack(unsigned skip) noexcept;

// Interns text (truncated to wire::kMaxStringBytes) and returns its id (> 0), emitting a String
// record the first time; 0 for nullptr.
uint32_t internString(const char* text, size_t len) noexcept;
uint32_t internString(const char* text) noexcept;

// The range this thread's events belong to (0 = none): the open model phase, else the thread's
// innermost NVTX range, else the open step (runtime.h eventRangeId). The NVTX handlers set the
// thread's own range.
uint32_t currentRangeId() noexcept;
void setCurrentRangeId(uint32_t id) noexcept;

// A fresh id for ranges, heaps and other per-process objects (never 0).
uint32_t nextObjectId() noexcept;

// Range records (range_records.cpp): a RangeBegin with a fresh id, which it returns, and its
// RangeEnd (nothing for id 0). Ids are strings from internString.
struct RangeStart {
    wire::RangeKind kind = wire::RangeKind::StartEnd;
    uint32_t parentId = 0;
    uint32_t domainId = 0;
    uint32_t nameId = 0;
    uint32_t category = 0;
    uint32_t color = 0;
};
uint32_t emitRangeBegin(const RangeStart& start) noexcept;
void emitRangeEnd(uint32_t rangeId) noexcept;

// Records a capture counter or a coverage item (detail may be nullptr).
void emitStat(wire::StatSource source, const char* name, uint64_t value, const char* detail) noexcept;

// Re-entrancy guard: while one is alive on a thread, the malloc hooks of that thread record
// nothing (use it around code of ours that may allocate, e.g. dlsym, libunwind, CUPTI calls).
class ReentryGuard {
public:
    ReentryGuard() noexcept;
    ~ReentryGuard();
    ReentryGuard(const ReentryGuard&) = delete;
    ReentryGuard& operator=(const ReentryGuard&) = delete;
    bool wasAlreadyInside() const noexcept { return m_wasInside; }

private:
    bool m_wasInside;
};

// One-line log to stderr with the prefix "tidemark[pid:tid] level:", a single write(2),
// filtered by TIDEMARK_LOG (error|warn|info|debug; default warn). Signal-safe formatting.
enum class LogLevel { Error = 0, Warn = 1, Info = 2, Debug = 3 };
void log(LogLevel level, const char* message) noexcept;

} // namespace tidemark::interposer
