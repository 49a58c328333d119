// Whole training runs of tidemark-train on the CPU backend: the loss falls, runs are reproducible,
// checkpointing keeps the numbers and lowers the activation peak by exactly what the layer count
// predicts, the planted leak leaks exactly what it announces, and --fragment strands what it says.
#include "trainer.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <numeric>

using namespace tidemark::train;

namespace {

TrainConfig smallConfig()
{
    TrainConfig c;
    c.model.batch = 32;
    c.model.hidden = 64;
    c.model.layers = 8;
    c.steps = 30;
    c.device = "cpu";
    c.printEvery = 0;
    return c;
}

TrainResult run(const TrainConfig& c)
{
    auto backend = makeCpuBackend();
    return runTraining(c, *backend, nullptr);
}

float mean(const std::vector<float>& v, size_t from, size_t count)
{
    return std::accumulate(v.begin() + from, v.begin() + from + count, 0.0f) / static_cast<float>(count);
}

size_t tagPeak(const TrainResult& r, Tag t)
{
    return r.stats.tagPeakBytes[static_cast<size_t>(t)];
}

// How many hidden-state tensors (batch x hidden) are live at the worst moment, derived from the
// schedule the model promises: without checkpointing h_0..h_L and a_1..a_L are all kept; with
// checkpoint K forward keeps h_0, h_K, ... (plus the current h_{k-1} and h_k), and backward, after
// dropping h_L, rebuilds one segment at a time: len relu outputs and len-1 hidden states on top of
// the checkpoints not yet consumed.
size_t expectedActivationTensors(int layers, int k)
{
    if (k <= 1)
        return 2 * static_cast<size_t>(layers) + 1;
    auto isCheckpoint = [&](int i) { return i % k == 0; };
    size_t peak = 0;
    for (int block = 1; block <= layers; ++block) {
        size_t kept = 0;
        for (int i = 0; i <= block - 1; ++i)
            kept += isCheckpoint(i);
        peak = std::max(peak, kept + (isCheckpoint(block - 1) ? 0 : 1) + 1);
    }
    const int segments = (layers + k - 1) / k;
    for (int s = 0; s < segments; ++s) {
        const int len = std::min(k, layers - s * k);
        peak = std::max(peak, static_cast<size_t>(s + 1) + 2 * static_cast<size_t>(len) - 1);
    }
    return peak;
}

} // namespace

TEST(TrainingTest, LossFalls)
{
    const TrainResult r = run(smallConfig());
    ASSERT_EQ(r.losses.size(), 30u);
    const float first = mean(r.losses, 0, 5), last = mean(r.losses, 25, 5);
    EXPECT_LT(last, 0.3f * first) << "first " << first << " last " << last;
    for (float l : r.losses)
        EXPECT_TRUE(std::isfinite(l));
}

TEST(TrainingTest, SameSeedSameLossOtherSeedOtherLoss)
{
    TrainConfig c = smallConfig();
    c.steps = 8;
    const TrainResult a = run(c), b = run(c);
    EXPECT_EQ(a.losses, b.losses);
    c.seed = 2;
    const TrainResult other = run(c);
    EXPECT_NE(a.losses, other.losses);
}

TEST(TrainingTest, CheckpointingKeepsTheLossAndLowersTheActivationPeakAsPredicted)
{
    TrainConfig c = smallConfig();
    c.steps = 6;
    const TrainResult full = run(c);
    const size_t tensor = static_cast<size_t>(c.model.batch) * c.model.hidden * sizeof(float); // multiple of 512
    EXPECT_EQ(full.activationPeakBytes, 17 * tensor); // 2L+1 with L = 8
    for (int k : { 2, 3, 4, 8 }) {
        c.model.checkpoint = k;
        const TrainResult ck = run(c);
        EXPECT_EQ(ck.losses, full.losses) << "checkpoint " << k << " changed the numbers";
        EXPECT_EQ(ck.activationPeakBytes, expectedActivationTensors(c.model.layers, k) * tensor) << "checkpoint " << k;
        EXPECT_LT(ck.activationPeakBytes, full.activationPeakBytes);
        // Recomputation costs memory elsewhere only in workspace; weights and grads are untouched.
        EXPECT_EQ(tagPeak(ck, Tag::Grad), tagPeak(full, Tag::Grad));
    }
    EXPECT_EQ(expectedActivationTensors(8, 2), 7u); // L/K + 2K - 1
    EXPECT_EQ(expectedActivationTensors(8, 4), 9u);
}

TEST(TrainingTest, LowerPrecisionHalvesActivationsAndStillLearns)
{
    TrainConfig c = smallConfig();
    const TrainResult fp32 = run(c);
    for (DType t : { DType::Fp16, DType::Bf16 }) {
        c.model.precision = t;
        const TrainResult low = run(c);
        EXPECT_EQ(low.activationPeakBytes * 2, fp32.activationPeakBytes) << dtypeName(t);
        EXPECT_NE(low.losses, fp32.losses) << dtypeName(t) << " storage should round something";
        EXPECT_LT(mean(low.losses, 25, 5), 0.3f * mean(low.losses, 0, 5)) << dtypeName(t);
        EXPECT_NEAR(low.losses.front(), fp32.losses.front(), 0.02f * fp32.losses.front()) << dtypeName(t);
    }
}

TEST(TrainingTest, PlantedLeakLeaksExactlyWhatItSays)
{
    TrainConfig c = smallConfig();
    c.steps = 10;
    const TrainResult clean = run(c);
    EXPECT_EQ(clean.stats.allocatedBytes, 0u);
    EXPECT_EQ(clean.stats.reservedBytes, 0u);

    c.leakEvery = 3;
    c.leakBytes = 100000;
    const TrainResult r = run(c);
    EXPECT_EQ(r.leakCount, 3u); // steps 3, 6, 9
    EXPECT_EQ(r.leakBlockBytes, 100352u);
    EXPECT_EQ(r.stats.allocatedBytes, 3 * 100352u);
    EXPECT_EQ(r.stats.tagBytes[static_cast<size_t>(Tag::Leak)], 3 * 100352u);
    // What stays reserved is whole small-pool segments kept alive by the leaked blocks.
    EXPECT_GT(r.stats.reservedBytes, 0u);
    EXPECT_EQ(r.stats.reservedBytes % (2u << 20), 0u);
    EXPECT_EQ(r.losses, clean.losses) << "the leak must not change the training";

    const auto truth = nlohmann::json::parse(truthJson(c, r));
    EXPECT_EQ(truth["leak"]["count"], 3);
    EXPECT_EQ(truth["leak"]["total_bytes"], 3 * 100352);
    EXPECT_DOUBLE_EQ(truth["leak"]["per_step_bytes"].get<double>(), 3 * 100352 / 10.0);
    EXPECT_EQ(truth["leak"]["function"], "tidemark_train_planted_leak");
    EXPECT_EQ(truth["allocator"]["final_allocated_bytes"], 3 * 100352);
}

TEST(TrainingTest, FragmentPatternStrandsTenMebibytes)
{
    TrainConfig c = smallConfig();
    c.steps = 4;
    const TrainResult plain = run(c);
    c.fragment = true;
    const TrainResult frag = run(c);
    ASSERT_TRUE(frag.fragment.taken);
    EXPECT_EQ(frag.fragment.strandedBytes, 4 * 2621440u);
    EXPECT_EQ(frag.fragment.largestFreeBlockBytes, 2621440u);
    // One 20 MiB segment for the pinned blocks, one for the 5 MiB request that could not use the holes.
    EXPECT_EQ(frag.stats.peakReservedBytes, plain.stats.peakReservedBytes + 40u * (1 << 20));
    EXPECT_EQ(frag.losses, plain.losses);
}

TEST(TrainingTest, NoCacheGivesTheSameNumbersWithOneSegmentPerTensor)
{
    TrainConfig c = smallConfig();
    c.steps = 5;
    const TrainResult cached = run(c);
    c.caching = false;
    const TrainResult raw = run(c);
    EXPECT_EQ(raw.losses, cached.losses);
    EXPECT_EQ(raw.stats.segmentsCreated, raw.stats.allocCalls);
    EXPECT_LT(cached.stats.segmentsCreated, cached.stats.allocCalls / 10);
    EXPECT_EQ(raw.stats.reservedBytes, 0u);
}

TEST(TrainingTest, TruthReportsModelSizes)
{
    TrainConfig c = smallConfig();
    c.steps = 2;
    const TrainResult r = run(c);
    const size_t h = 64, in = 64, out = 16, layers = 8;
    const size_t params = (in * h + h) + layers * (h * h + h) + (h * out + out);
    EXPECT_EQ(r.parameterBytes, params * 4);
    const auto truth = nlohmann::json::parse(truthJson(c, r));
    EXPECT_EQ(truth["model"]["parameter_bytes"], params * 4);
    EXPECT_EQ(truth["model"]["optimizer_state_bytes"], params * 8);
    EXPECT_EQ(truth["model"]["activation_peak_bytes"], 17 * 32 * 64 * 4);
    EXPECT_DOUBLE_EQ(truth["model"]["activation_bytes_per_sample"].get<double>(), 17 * 64 * 4);
    EXPECT_EQ(truth["config"]["device"], "cpu");
    EXPECT_EQ(truth["loss"]["per_step"].size(), 2u);
    // Weights, grads and Adam state are whole-layer tensors rounded to 512 bytes each.
    const auto& tags = truth["allocator"]["by_tag"];
    EXPECT_GE(tags["weight"]["peak_bytes"].get<size_t>(), params * 4);
    EXPECT_LT(tags["weight"]["peak_bytes"].get<size_t>(), params * 4 + 10 * 512);
    EXPECT_EQ(tags["optimizer_state"]["peak_bytes"], 2 * tags["weight"]["peak_bytes"].get<size_t>());
    EXPECT_GE(truth["allocator"]["peak_reserved_bytes"].get<size_t>(),
        truth["allocator"]["peak_allocated_bytes"].get<size_t>());
}
