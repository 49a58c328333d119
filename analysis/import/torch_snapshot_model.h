// The PyTorch memory snapshot as plain structs, read from the restricted pickle: segments with their
// blocks as they were at dump time, the per-device trace of allocator events, annotations and settings.
// Tolerates every layout seen in real files: a bare list of segments (torch.cuda.memory_snapshot()),
// blocks without addresses (PyTorch 2.0: addresses follow from the segment and block order), events
// without frames or time_us, expandable segments.
#pragma once

#include "analysis/import/pickle_reader.h"
#include "analysis/import/recording_writer.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tidemark::import {

struct TorchBlock {
    uint64_t address = 0;
    int64_t sizeBytes = 0;
    int64_t requestedBytes = 0;
    std::string state; // active_allocated | active_pending_free | inactive
    PickleRef frames;  // innermost first; may be absent
    bool allocated() const { return state.starts_with("active"); }
};

struct TorchSegment {
    int device = 0;
    uint64_t address = 0;
    int64_t totalBytes = 0;
    int64_t allocatedBytes = 0;
    int64_t stream = 0;
    std::string type; // large | small
    std::string poolId;
    bool expandable = false;
    PickleRef frames;
    std::vector<TorchBlock> blocks;
};

struct TorchEvent {
    std::string action;
    uint64_t address = 0;
    int64_t sizeBytes = 0;
    int64_t stream = 0;
    std::optional<int64_t> timeUs;
    std::optional<int64_t> deviceFreeBytes; // oom events
    PickleRef frames;
};

struct TorchAnnotation {
    std::string stage; // START | END
    std::string name;
    int device = 0;
    int64_t timeUs = 0;
};

struct TorchSnapshot {
    bool bareSegmentList = false;
    std::vector<TorchSegment> segments;
    std::vector<std::vector<TorchEvent>> deviceTraces; // index = device
    std::vector<TorchAnnotation> annotations;
    std::string allocatorSettingsJson; // "" when absent
};

// Errors: Corrupt when the pickle is not a snapshot (wrong types where numbers or lists must be).
Result<TorchSnapshot> readTorchSnapshot(const PickleDoc& doc);

// Frames as PyTorch stores them ({name, filename, line}, innermost first).
std::vector<SymbolicFrame> torchFrames(PickleRef frames);

} // namespace tidemark::import
