// Kineto [memory] events of one trace turned into rows: lifetimes paired by address per device, the memory
// allocated before the trace began (from the first "Total Allocated"), and samples of the stated totals.
#pragma once

#include "analysis/import/recording_writer.h"

#include <cstdint>
#include <functional>
#include <optional>
#include <utility>
#include <vector>

namespace tidemark::import {

struct KinetoMemoryEvent {
    int64_t tsNs = 0;
    int64_t tid = 0;
    int64_t deviceType = -1; // 0 CPU, 1 CUDA
    int64_t deviceId = 0;
    std::optional<int64_t> address; // absent in old schemas
    int64_t bytes = 0;              // negative = free
    std::optional<int64_t> totalAllocated, totalReserved;
    std::optional<int64_t> callsite; // enclosing operators / Python functions, when the trace has them
};

// (tid, ts) -> (thread row id, innermost range id)
using ThreadContext = std::function<std::pair<int64_t, std::optional<int64_t>>(int64_t tid, int64_t tsNs)>;

void writeKinetoMemory(std::vector<KinetoMemoryEvent>& events, RecordingWriter& out, int64_t processId,
    const ThreadContext& context);

} // namespace tidemark::import
