// Lifetimes rebuilt from a PyTorch snapshot, and the pool heaps made from them: one heap per cudaMalloc'd
// segment, and for expandable segments one heap per span of time in which the mapped extent was constant.
#pragma once

#include "analysis/import/recording_writer.h"
#include "analysis/import/torch_snapshot_model.h"

#include <cstdint>
#include <optional>
#include <vector>

namespace tidemark::import {

struct Life {
    uint64_t address = 0;
    int64_t size = 0;
    int64_t start = 0;
    std::optional<int64_t> end;
    std::optional<int64_t> callsite;
    int64_t stream = 0;
    bool mapped = false; // a segment_map piece of an expandable segment
};

struct HeapSpan {
    uint64_t address;
    int64_t size, start;
    std::optional<int64_t> end;
    int64_t id;
};

// Writes the heaps of one device (pool space `pool`) and returns them for heapFor.
std::vector<HeapSpan> writeHeaps(const std::vector<Life>& segments, const std::vector<const TorchSegment*>& finals,
    int64_t pool, int64_t processId, RecordingWriter& out);

// The heap a block lives in: its address range inside the heap and their lifetimes overlapping; among
// several (an expandable segment that grew while the block lived), the latest, so the state at the dump
// is exact.
std::optional<int64_t> heapFor(const std::vector<HeapSpan>& heaps, const Life& block);

} // namespace tidemark::import
