// The network tidemark-train trains: an input projection (layer 0), `layers` residual blocks
// h_k = h_{k-1} + relu(h_{k-1} W_k + b_k) (layers 1..L) and a linear head (layer L+1), trained with
// MSE and Adam. Activations are stored in the chosen precision; every byte comes from the caching
// allocator, tagged by role. With checkpointing only every K-th hidden state is kept in forward
// and the rest is recomputed segment by segment in backward.
#pragma once

#include "backend.h"
#include "caching_allocator.h"

#include <cstdint>
#include <vector>

namespace tidemark::train {

struct ModelConfig {
    int inputDim = 64;
    int hidden = 256;
    int outputDim = 16;
    int layers = 8; // residual blocks
    int batch = 64;
    int checkpoint = 0; // keep only h_0, h_K, h_2K, ... (and h_L); 0 or 1 keeps everything
    DType precision = DType::Fp32; // storage of saved activations
};

// A block from the caching allocator, returned on destruction.
class DeviceBuffer {
public:
    DeviceBuffer() = default;
    DeviceBuffer(CachingAllocator& alloc, size_t bytes, Tag tag);
    ~DeviceBuffer() { reset(); }
    DeviceBuffer(DeviceBuffer&& other) noexcept;
    DeviceBuffer& operator=(DeviceBuffer&& other) noexcept;
    void reset();
    explicit operator bool() const { return m_ptr != nullptr; }
    void* get() const { return m_ptr; }
    float* f32() const { return static_cast<float*>(m_ptr); }
    size_t bytes() const { return m_bytes; }

private:
    CachingAllocator* m_alloc = nullptr;
    void* m_ptr = nullptr;
    size_t m_bytes = 0;
};

class Mlp {
public:
    Mlp(Backend& backend, CachingAllocator& alloc, const ModelConfig& config, uint64_t seed);

    // Forward and backward on one batch (device pointers, fp32, batch x inputDim / batch x outputDim);
    // fills the gradients and returns the loss.
    float forwardBackward(const float* x, const float* target);
    void optimizerStep(float lr);
    // Averages the gradients over all ranks (staged through host memory).
    void allreduceGradients(class Communicator& comm);
    uint64_t parameterChecksum();

    int layerCount() const { return static_cast<int>(m_layers.size()); } // layers + 2
    size_t parameterCount() const;
    size_t parameterBytes() const { return parameterCount() * sizeof(float); }
    bool checkpointing() const { return m_config.checkpoint > 1; }

private:
    struct Linear {
        int in;
        int out;
        DeviceBuffer params; // W (in x out, row-major) followed by b (out)
        DeviceBuffer grads; // same layout; allocated at the first backward, like PyTorch's .grad
        DeviceBuffer adamM; // allocated at the first optimizer step
        DeviceBuffer adamV;
        size_t count() const { return static_cast<size_t>(in) * out + out; }
        float* w() const { return params.f32(); }
        float* b() const { return params.f32() + static_cast<size_t>(in) * out; }
    };
    // A view of a stored activation as fp32: the buffer itself for fp32, else a converted copy.
    struct Fp32View {
        const float* ptr;
        DeviceBuffer copy;
    };

    DeviceBuffer alloc(size_t bytes, Tag tag);
    DeviceBuffer activation();
    Fp32View asFp32(const DeviceBuffer& stored);
    float forward(const float* x, const float* target, DeviceBuffer& dy);
    void backward(const float* x, DeviceBuffer& dy);
    void linearForward(const Linear& l, const float* in, float* out);
    void weightGradients(Linear& l, const float* in, const float* dOut);
    void blockForward(int k, bool keepRelu, bool writeHidden);
    void blockBackward(int k, float* grad);
    void recomputeSegment(int firstBlock, int lastBlock);
    bool isCheckpoint(int index) const;

    Backend& m_backend;
    CachingAllocator& m_alloc;
    ModelConfig m_config;
    std::vector<Linear> m_layers;
    std::vector<DeviceBuffer> m_hidden; // h_0..h_L, stored precision
    std::vector<DeviceBuffer> m_relu; // a_1..a_L (index k), stored precision
    int m_step = 0;
    std::vector<float> m_staging; // host copy of one layer's gradients for the allreduce
};

} // namespace tidemark::train
