// The training loop of tidemark-train and what it knows about itself: the per-step losses, the
// allocator's counters, the planted leak and the fragmentation pattern, written as the --truth JSON
// that tests and tidemark's own checks compare a recording against.
#pragma once

#include "backend.h"
#include "caching_allocator.h"
#include "model.h"

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace tidemark::train {

// Data parallelism (--distributed): sums host buffers over all ranks (MPI_Allreduce underneath).
class Communicator {
public:
    virtual ~Communicator() = default;
    virtual int rank() const = 0;
    virtual int size() const = 0;
    virtual void allreduceSum(float* data, size_t n) = 0;
};

struct TrainConfig {
    ModelConfig model;
    int steps = 60;
    uint64_t seed = 1;
    float learningRate = 2e-3f;
    bool caching = true;
    int leakEvery = 0; // 0: no leak
    size_t leakBytes = 1 << 20;
    bool fragment = false;
    std::string device = "auto";
    int printEvery = 1; // loss lines on the log; 0: none
    // When set, each rank trains on its slice of a global batch of batch x size samples and the
    // gradients (and the printed loss) are averaged over ranks before the optimizer.
    Communicator* comm = nullptr;
};

struct FragmentSnapshot {
    bool taken = false;
    size_t strandedBytes = 0; // free, but too small for the request that needed a new segment
    size_t largestFreeBlockBytes = 0; // in the segments the pattern pins
    size_t reservedBytes = 0;
    size_t allocatedBytes = 0;
};

struct TrainResult {
    std::vector<float> losses; // one per step (averaged over ranks when distributed)
    std::vector<float> localLosses; // this rank's own batch slice
    AllocatorStats stats; // after teardown: what remains is what leaked
    AllocatorStats statsBeforeTeardown;
    size_t parameterBytes = 0;
    size_t activationPeakBytes = 0;
    uint64_t leakCount = 0;
    size_t leakBlockBytes = 0; // one planted block, rounded as the allocator rounds it
    FragmentSnapshot fragment;
    std::string backend;
    uint64_t parameterChecksum = 0; // FNV-1a of the final weights: equal on every rank
};

// Runs the whole training on the given backend. Progress lines go to log (may be null).
// Throws std::runtime_error when the device runs out of memory.
TrainResult runTraining(const TrainConfig& config, Backend& backend, std::FILE* log);

// The --truth document (a JSON object, pretty-printed).
std::string truthJson(const TrainConfig& config, const TrainResult& result);

} // namespace tidemark::train

// The planted leak of --leak-every: allocates `bytes` from the caching allocator (tag "leak") and
// drops the pointer. Not inlined and with C linkage, so its name shows up unmangled in stacks.
extern "C" void* tidemark_train_planted_leak(tidemark::train::CachingAllocator* allocator, size_t bytes);
