// Test helper: writes a small synthetic training recording (the real schema, through trace/recording.h)
// whose memory behaviour is known exactly: weights, per-layer activations that scale with the batch,
// an optional planted leak, NVTX steps, kernels, copies and failed allocations. The generator tracks
// live bytes itself, so tests compare tidemark's answers with numbers it did not compute.
#pragma once

#include "trace/result.h"

#include <cstdint>
#include <optional>
#include <string>

namespace tidemark::testing {

struct TrainingShape {
    int steps = 6;
    int layers = 4;
    int64_t batch = 32; // activations per layer: batch * 4096 bytes (cuda:0)
    int64_t weightBytes = 1 << 20; // allocated once at start, live to the end
    int leakEvery = 0; // plant a leak in forward every N steps (0 = none)
    int64_t leakBytes = 1 << 18;
    int failedAllocations = 0; // failed cudaMalloc calls at the end
    std::optional<int64_t> rank;
    std::string oddName; // a region name to test CSV quoting (may hold , " and newlines)
};

struct TrainingTruth {
    int64_t devicePeakBytes = 0; // cuda:0
    int64_t hostPeakBytes = 0;
    int64_t deviceLeakedBytes = 0; // bytes of the planted leak
    int64_t allocations = 0; // rows written to `allocations`
    int64_t ranges = 0;
    int64_t kernels = 0;
    int64_t copies = 0; // memcpys + memsets
    int64_t failed = 0;
    std::string forwardPhase = "step/forward";
};

// Writes the recording to path (replaced) and finalizes it as `record` does.
Result<TrainingTruth> writeTrainingRecording(const std::string& path, const TrainingShape& shape);

} // namespace tidemark::testing
