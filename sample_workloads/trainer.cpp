// One training step is: fetch a batch (host → device), forward, backward, Adam, each in its NVTX
// range inside "step N"; optionally the planted leak and the fragmentation pattern. Everything on
// the device goes through one CachingAllocator so its counters are the ground truth.
#include "trainer.h"

#include "nvtx_annotate.h"
#include "synthetic_task.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <memory>
#include <set>
#include <stdexcept>

extern "C" __attribute__((noinline)) void* tidemark_train_planted_leak(
    tidemark::train::CachingAllocator* allocator, size_t bytes)
{
    void* lost = allocator->allocate(bytes, tidemark::train::Tag::Leak);
    // Keep the call (and this frame) from being folded into the caller.
    asm volatile("" : : "r"(lost) : "memory");
    return lost;
}

namespace tidemark::train {

namespace {

    // --fragment: eight 2.5 MiB blocks fill one 20 MiB large-pool segment; the odd ones are freed and
    // the even ones kept until the next step, leaving four 2.5 MiB holes. A 5 MiB request that lives
    // until the end of the step cannot use them and takes a new segment: 10 MiB stranded per step.
    class FragmentPattern {
    public:
        static constexpr size_t kPinBytes = 2621440;
        static constexpr int kPins = 8;
        static constexpr size_t kWideBytes = 2 * kPinBytes;

        explicit FragmentPattern(CachingAllocator& alloc)
            : m_alloc(alloc)
        {
        }
        void beginStep(FragmentSnapshot& snapshot)
        {
            ScopedRange range("fragment");
            m_pins.clear();
            std::vector<DeviceBuffer> all;
            for (int i = 0; i < kPins; ++i)
                all.emplace_back(m_alloc, kPinBytes, Tag::Fragment);
            for (int i = 0; i < kPins; ++i)
                if (i % 2 == 0)
                    m_pins.push_back(std::move(all[i]));
            all.clear();
            m_wide = DeviceBuffer(m_alloc, kWideBytes, Tag::Fragment);
            snapshot = takeSnapshot();
        }
        void endStep() { m_wide.reset(); }

    private:
        // Stranded: free blocks too small for the wide request, inside segments a pinned block keeps alive.
        FragmentSnapshot takeSnapshot() const
        {
            FragmentSnapshot s;
            s.taken = true;
            std::set<uintptr_t> pinnedSegments;
            const std::vector<BlockInfo> blocks = m_alloc.blocks();
            for (const BlockInfo& b : blocks)
                if (b.allocated && b.tag == Tag::Fragment && b.sizeBytes == kPinBytes)
                    pinnedSegments.insert(b.segment);
            for (const BlockInfo& b : blocks) {
                if (b.allocated || !pinnedSegments.count(b.segment))
                    continue;
                if (b.sizeBytes < kWideBytes)
                    s.strandedBytes += b.sizeBytes;
                s.largestFreeBlockBytes = std::max(s.largestFreeBlockBytes, b.sizeBytes);
            }
            s.reservedBytes = m_alloc.stats().reservedBytes;
            s.allocatedBytes = m_alloc.stats().allocatedBytes;
            return s;
        }

        CachingAllocator& m_alloc;
        std::vector<DeviceBuffer> m_pins;
        DeviceBuffer m_wide;
    };

} // namespace

namespace {

    // One step's batch on the device: every rank draws the same global batch and keeps its own
    // slice, so N ranks of batch B see exactly the data of one process with batch N x B.
    struct StepBatch {
        DeviceBuffer x;
        DeviceBuffer target;
    };

    StepBatch loadBatch(const TrainConfig& config, const TeacherTask& task, int step, Backend& backend,
        CachingAllocator& alloc, std::vector<float>& hostX, std::vector<float>& hostT)
    {
        const ModelConfig& mc = config.model;
        const int world = config.comm ? config.comm->size() : 1;
        const size_t rank = config.comm ? static_cast<size_t>(config.comm->rank()) : 0;
        task.batch(step, mc.batch * world, hostX, hostT);
        const size_t xSlice = static_cast<size_t>(mc.batch) * mc.inputDim;
        const size_t tSlice = static_cast<size_t>(mc.batch) * mc.outputDim;
        StepBatch b { DeviceBuffer(alloc, xSlice * sizeof(float), Tag::Input),
            DeviceBuffer(alloc, tSlice * sizeof(float), Tag::Input) };
        backend.copyToDevice(b.x.get(), hostX.data() + rank * xSlice, b.x.bytes());
        backend.copyToDevice(b.target.get(), hostT.data() + rank * tSlice, b.target.bytes());
        return b;
    }

    constexpr int kWarmupSteps = 10;

    void logStep(std::FILE* log, const TrainConfig& config, int step, float loss, float localLoss)
    {
        if (!log || config.printEvery <= 0 || step % config.printEvery != 0)
            return;
        if (config.comm)
            std::fprintf(log, "rank %d step %d loss %.6f local %.6f\n", config.comm->rank(), step,
                static_cast<double>(loss), static_cast<double>(localLoss));
        else
            std::fprintf(log, "step %d loss %.6f\n", step, static_cast<double>(loss));
    }

} // namespace

TrainResult runTraining(const TrainConfig& config, Backend& backend, std::FILE* log)
{
    TrainResult result;
    result.backend = backend.name();
    const ModelConfig& mc = config.model;
    CachingAllocator alloc(backend, config.caching);
    {
        Mlp model(backend, alloc, mc, config.seed);
        TeacherTask task(mc.inputDim, mc.outputDim, config.seed);
        std::unique_ptr<FragmentPattern> fragment;
        if (config.fragment)
            fragment = std::make_unique<FragmentPattern>(alloc);
        std::vector<float> hostX, hostT;
        for (int step = 1; step <= config.steps; ++step) {
            ScopedRange range("step", step);
            if (fragment)
                fragment->beginStep(result.fragment);
            StepBatch batch = loadBatch(config, task, step, backend, alloc, hostX, hostT);
            const float localLoss = model.forwardBackward(batch.x.f32(), batch.target.f32());
            float loss = localLoss;
            if (config.comm) {
                model.allreduceGradients(*config.comm);
                config.comm->allreduceSum(&loss, 1);
                loss /= static_cast<float>(config.comm->size());
            }
            // Linear warm-up: Adam's first steps move every weight by about lr at once, which
            // without it throws the loss up before it comes down.
            const float warm = std::min(1.0f, static_cast<float>(step) / static_cast<float>(kWarmupSteps));
            model.optimizerStep(config.learningRate * warm);
            if (config.leakEvery > 0 && step % config.leakEvery == 0) {
                if (!tidemark_train_planted_leak(&alloc, config.leakBytes))
                    throw std::runtime_error("out of device memory in the planted leak");
                ++result.leakCount;
            }
            if (fragment)
                fragment->endStep();
            result.losses.push_back(loss);
            result.localLosses.push_back(localLoss);
            logStep(log, config, step, loss, localLoss);
        }
        backend.synchronize();
        result.parameterBytes = model.parameterBytes();
        result.parameterChecksum = model.parameterChecksum();
        result.statsBeforeTeardown = alloc.stats();
    }
    alloc.emptyCache();
    result.stats = alloc.stats();
    result.activationPeakBytes = result.stats.tagPeakBytes[static_cast<size_t>(Tag::Activation)];
    result.leakBlockBytes = config.caching ? CachingAllocator::roundSize(config.leakBytes) : config.leakBytes;
    return result;
}

std::string truthJson(const TrainConfig& config, const TrainResult& r)
{
    using nlohmann::json;
    const ModelConfig& mc = config.model;
    const AllocatorStats& s = r.stats;
    json tags = json::object();
    for (size_t i = 0; i < kTagCount; ++i)
        tags[tagName(static_cast<Tag>(i))] = { { "peak_bytes", s.tagPeakBytes[i] }, { "final_bytes", s.tagBytes[i] } };
    const size_t leakTotal = r.leakCount * r.leakBlockBytes;
    json doc = {
        { "program", "tidemark-train" },
        { "config",
            { { "device", r.backend }, { "batch_size", mc.batch }, { "layers", mc.layers }, { "hidden", mc.hidden },
                { "input_dim", mc.inputDim }, { "output_dim", mc.outputDim }, { "steps", config.steps },
                { "checkpoint", mc.checkpoint }, { "precision", dtypeName(mc.precision) }, { "seed", config.seed },
                { "caching", config.caching }, { "leak_every", config.leakEvery }, { "leak_bytes", config.leakBytes },
                { "fragment", config.fragment }, { "learning_rate", config.learningRate },
                { "world_size", config.comm ? config.comm->size() : 1 },
                { "rank", config.comm ? config.comm->rank() : 0 } } },
        { "allocator",
            { { "peak_allocated_bytes", s.peakAllocatedBytes }, { "peak_reserved_bytes", s.peakReservedBytes },
                { "segments_created", s.segmentsCreated }, { "segments_freed", s.segmentsFreed },
                { "segment_bytes_created", s.segmentBytesCreated }, { "alloc_calls", s.allocCalls },
                { "free_calls", s.freeCalls }, { "final_allocated_bytes", s.allocatedBytes },
                { "final_reserved_bytes", s.reservedBytes },
                { "reserved_bytes_before_teardown", r.statsBeforeTeardown.reservedBytes },
                { "round_bytes", CachingAllocator::kMinBlockSize }, { "by_tag", tags } } },
        { "model",
            { { "parameter_bytes", r.parameterBytes }, { "gradient_bytes", r.parameterBytes },
                { "optimizer_state_bytes", 2 * r.parameterBytes }, { "activation_peak_bytes", r.activationPeakBytes },
                { "activation_bytes_per_sample",
                    static_cast<double>(r.activationPeakBytes) / static_cast<double>(mc.batch) } } },
        { "leak",
            { { "function", "tidemark_train_planted_leak" }, { "every_steps", config.leakEvery },
                { "request_bytes", config.leakEvery > 0 ? config.leakBytes : 0 }, { "block_bytes", r.leakBlockBytes },
                { "count", r.leakCount }, { "total_bytes", leakTotal },
                { "per_step_bytes",
                    config.steps > 0 ? static_cast<double>(leakTotal) / static_cast<double>(config.steps) : 0.0 } } },
        { "loss",
            { { "first", r.losses.empty() ? 0.0f : r.losses.front() },
                { "final", r.losses.empty() ? 0.0f : r.losses.back() }, { "per_step", r.losses },
                { "local_per_step", r.localLosses } } },
        { "parameter_checksum", r.parameterChecksum },
    };
    if (r.fragment.taken) {
        const auto& f = r.fragment;
        doc["fragment"] = { { "pattern", "8 x 2.5 MiB, odd ones freed, then a 5 MiB request; every step" },
            { "stranded_bytes", f.strandedBytes }, { "largest_free_block_bytes", f.largestFreeBlockBytes },
            { "request_bytes", FragmentPattern::kWideBytes }, { "reserved_bytes", f.reservedBytes },
            { "allocated_bytes", f.allocatedBytes } };
    }
    return doc.dump(2) + "\n";
}

} // namespace tidemark::train
