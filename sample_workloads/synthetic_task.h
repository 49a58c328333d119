// The deterministic learning task of tidemark-train: inputs are standard normal, targets come from
// a fixed random "teacher" network y = tanh(x A / sqrt(in)) C / sqrt(width) drawn from the seed, so
// the student can actually fit them and the loss falls. Same seed, same batches, same numbers.
#pragma once

#include <cstdint>
#include <vector>

namespace tidemark::train {

// SplitMix64 with a Box-Muller normal: tiny, portable, and identical on every platform (unlike
// std::normal_distribution, whose algorithm is left to the standard library).
class Rng {
public:
    explicit Rng(uint64_t seed)
        : m_state(seed)
    {
    }
    uint64_t next();
    double uniform(); // in (0, 1)
    float normal();

private:
    uint64_t m_state;
    bool m_haveSpare = false;
    float m_spare = 0.0f;
};

class TeacherTask {
public:
    static constexpr int kTeacherWidth = 32;

    TeacherTask(int inputDim, int outputDim, uint64_t seed);
    // Fills x (batch x inputDim) and targets (batch x outputDim) for the given step.
    void batch(int step, int batchSize, std::vector<float>& x, std::vector<float>& targets) const;

private:
    int m_in;
    int m_out;
    uint64_t m_seed;
    std::vector<float> m_a; // in x width
    std::vector<float> m_c; // width x out
};

} // namespace tidemark::train
