// Random numbers and the teacher network; all on the host (the teacher is tiny, and keeping it
// off the device keeps the measured device memory the student's alone).
#include "synthetic_task.h"

#include <cmath>

namespace tidemark::train {

uint64_t Rng::next()
{
    uint64_t z = (m_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

double Rng::uniform()
{
    return (static_cast<double>(next() >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

float Rng::normal()
{
    if (m_haveSpare) {
        m_haveSpare = false;
        return m_spare;
    }
    const double r = std::sqrt(-2.0 * std::log(uniform()));
    const double theta = 6.283185307179586 * uniform();
    m_spare = static_cast<float>(r * std::sin(theta));
    m_haveSpare = true;
    return static_cast<float>(r * std::cos(theta));
}

TeacherTask::TeacherTask(int inputDim, int outputDim, uint64_t seed)
    : m_in(inputDim)
    , m_out(outputDim)
    , m_seed(seed)
{
    Rng rng(seed ^ 0x7ea0c4e5ull);
    m_a.resize(static_cast<size_t>(m_in) * kTeacherWidth);
    m_c.resize(static_cast<size_t>(kTeacherWidth) * m_out);
    for (float& v : m_a)
        v = rng.normal();
    for (float& v : m_c)
        v = rng.normal();
}

void TeacherTask::batch(int step, int batchSize, std::vector<float>& x, std::vector<float>& targets) const
{
    // Each step's batch has its own stream, so a batch does not depend on how many came before.
    Rng rng(m_seed * 0x100000001b3ull + static_cast<uint64_t>(step) + 1);
    x.resize(static_cast<size_t>(batchSize) * m_in);
    targets.assign(static_cast<size_t>(batchSize) * m_out, 0.0f);
    for (float& v : x)
        v = rng.normal();
    const float inScale = 1.0f / std::sqrt(static_cast<float>(m_in));
    const float outScale = 1.0f / std::sqrt(static_cast<float>(kTeacherWidth));
    float hiddenRow[kTeacherWidth];
    for (int r = 0; r < batchSize; ++r) {
        const float* xr = &x[static_cast<size_t>(r) * m_in];
        for (int j = 0; j < kTeacherWidth; ++j) {
            float s = 0.0f;
            for (int i = 0; i < m_in; ++i)
                s += xr[i] * m_a[static_cast<size_t>(i) * kTeacherWidth + j];
            hiddenRow[j] = std::tanh(s * inScale);
        }
        float* tr = &targets[static_cast<size_t>(r) * m_out];
        for (int j = 0; j < kTeacherWidth; ++j)
            for (int o = 0; o < m_out; ++o)
                tr[o] += hiddenRow[j] * m_c[static_cast<size_t>(j) * m_out + o] * outScale;
    }
}

} // namespace tidemark::train
