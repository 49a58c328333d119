// emitStat() and the Stat records written at the end of an image: capture counters (events,
// dropped, ring waits, stacks, ...) so nothing is lost silently, and coverage items that say which
// hooks and which unwinder were active.
#include "interposer/runtime.h"

#include <cstring>

namespace tidemark::interposer {

void emitStat(wire::StatSource source, const char* name, uint64_t value, const char* detail) noexcept
{
    if (!name)
        return;
    size_t nameLen = std::strlen(name);
    size_t detailLen = detail ? std::strlen(detail) : 0;
    nameLen = nameLen > 200 ? 200 : nameLen;
    detailLen = detailLen > 1000 ? 1000 : detailLen;
    alignas(8) uint8_t buf[sizeof(wire::StatRecord) + 1216] = {};
    wire::StatRecord r {};
    r.h.kind = uint16_t(wire::Kind::Stat);
    r.h.size_bytes = uint16_t(wire::padTo8(uint32_t(sizeof(r) + nameLen + detailLen)));
    r.source = uint16_t(source);
    r.name_len = uint16_t(nameLen);
    r.detail_len = uint32_t(detailLen);
    r.value = value;
    std::memcpy(buf, &r, sizeof(r));
    std::memcpy(buf + sizeof(r), name, nameLen);
    if (detailLen)
        std::memcpy(buf + sizeof(r) + nameLen, detail, detailLen);
    emit(buf, r.h.size_bytes);
}

void emitExitStats() noexcept
{
    foldAllThreadCounters();
    const GlobalCounters& g = g_counters;
    auto stat = [](const char* name, const std::atomic<uint64_t>& v, const char* detail) {
        emitStat(wire::StatSource::Preload, name, v.load(std::memory_order_relaxed), detail);
    };
    // Records emitted up to here; the Stat and ProcessExit records that follow are not included.
    stat("events", g.events, "records put into the per-thread buffers");
    stat("dropped", g.dropped, "records lost (buffer full while tracking stopped, or too large)");
    stat("ring_waits", g.ringWaits, "times a thread found its buffer full");
    stat("self_drains", g.selfDrains, "buffers written by their own thread because they were full");
    stat("stack_captures", g.stackCaptures, nullptr);
    stat("stacks", g.stacksNew, "distinct stacks emitted (deduplicated per thread)");
    stat("stacks_truncated", g.stacksTruncated, "stacks cut at TIDEMARK_STACK_DEPTH");
    stat("stacks_empty", g.stacksEmpty, "captures that found no frame");
    stat("heap_clock_reads", g.clockReads, "heap events that read the clock; the others took the previous timestamp + 1 ns");
    stat("stack_frames_walked", g.framesWalked, "frames found by walking (unwind tables or frame-pointer chain)");
    if (g_config.checkUnwind) {
        stat("unwind_checks", g.unwindChecks, "CFI stacks compared with libunwind's (TIDEMARK_UNWIND_CHECK)");
        stat("unwind_mismatches", g.unwindMismatches, "compared stacks that differed in any frame");
    }
    stat("stack_frames_guessed", g.framesGuessed, "CFI walk: frames in code without unwind tables, taken from the rbp chain");
    stat("stack_frames_reused", g.framesReused, "frames checked against the previous capture instead of walked");
    stat("threads", g.threads, "threads that emitted records");
    stat("chunks", g.chunks, nullptr);
    stat("bytes_written", g.bytesWritten, "spool bytes before this record");
    stat("write_errors", g.writeErrors, nullptr);
    stat("bootstrap_allocs", g.bootstrapAllocs, "allocations served while dlsym resolved the real functions");
    stat("modules", g.moduleRecords, nullptr);
    stat("module_unloads", g.moduleUnloads, nullptr);
    stat("strings", g.strings, nullptr);
    stat("forks", g.forks, "fork() calls that returned in this image");
    stat("exec_calls", g.execCalls, nullptr);
    stat("exec_failed", g.execFailed, "exec calls that returned; tracking went on after their ProcessExit");
    stat("drain_passes", g.drainPasses, nullptr);
    emitHookCoverage();
    emitStat(wire::StatSource::Preload, "unwinder", g_config.stackDepth,
        !g_config.stackDepth                          ? "stacks off (TIDEMARK_STACK_DEPTH=0)"
            : g_config.unwinder == Unwinder::Libunwind ? "libunwind; value = depth limit"
            : g_config.unwinder == Unwinder::Cfi       ? "DWARF CFI (unwind tables); value = depth limit"
                                                       : "frame pointers; value = depth limit");
    emitStat(wire::StatSource::Preload, "follow_fork", g_config.followFork ? 1 : 0, nullptr);
}

} // namespace tidemark::interposer
