// Forward, backward (with optional recomputation) and Adam for the residual MLP. Each layer runs
// inside an NVTX "layer K" range so a profiler can attribute every allocation to its layer.
#include "model.h"

#include "nvtx_annotate.h"
#include "synthetic_task.h"
#include "trainer.h"

#include <cmath>
#include <stdexcept>
#include <string>

namespace tidemark::train {

DeviceBuffer::DeviceBuffer(CachingAllocator& alloc, size_t bytes, Tag tag)
    : m_alloc(&alloc)
    , m_ptr(alloc.allocate(bytes, tag))
    , m_bytes(bytes)
{
    if (!m_ptr)
        throw std::runtime_error(
            "out of device memory allocating " + std::to_string(bytes) + " bytes of " + tagName(tag));
}

DeviceBuffer::DeviceBuffer(DeviceBuffer&& other) noexcept
    : m_alloc(other.m_alloc)
    , m_ptr(other.m_ptr)
    , m_bytes(other.m_bytes)
{
    other.m_ptr = nullptr;
}

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& other) noexcept
{
    if (this != &other) {
        reset();
        m_alloc = other.m_alloc;
        m_ptr = other.m_ptr;
        m_bytes = other.m_bytes;
        other.m_ptr = nullptr;
    }
    return *this;
}

void DeviceBuffer::reset()
{
    if (m_ptr)
        m_alloc->free(m_ptr);
    m_ptr = nullptr;
    m_bytes = 0;
}

Mlp::Mlp(Backend& backend, CachingAllocator& allocator, const ModelConfig& config, uint64_t seed)
    : m_backend(backend)
    , m_alloc(allocator)
    , m_config(config)
{
    Rng rng(seed ^ 0x5eed0f5eedull);
    const int h = config.hidden;
    std::vector<std::pair<int, int>> shapes { { config.inputDim, h } };
    for (int k = 0; k < config.layers; ++k)
        shapes.emplace_back(h, h);
    shapes.emplace_back(h, config.outputDim);
    std::vector<float> host;
    for (size_t i = 0; i < shapes.size(); ++i) {
        Linear l { shapes[i].first, shapes[i].second, {}, {}, {}, {} };
        l.params = alloc(l.count() * sizeof(float), Tag::Weight);
        // He-style init for the projection; residual branches and the head start small so the
        // residual stream does not grow with depth.
        const bool residualOrHead = i > 0;
        const float scale = (residualOrHead ? 0.5f : 1.0f) / std::sqrt(static_cast<float>(l.in));
        host.assign(l.count(), 0.0f);
        for (size_t j = 0; j < static_cast<size_t>(l.in) * l.out; ++j)
            host[j] = rng.normal() * scale;
        m_backend.copyToDevice(l.params.get(), host.data(), host.size() * sizeof(float));
        m_layers.push_back(std::move(l));
    }
    m_hidden.resize(config.layers + 1);
    m_relu.resize(config.layers + 1);
}

DeviceBuffer Mlp::alloc(size_t bytes, Tag tag)
{
    return DeviceBuffer(m_alloc, bytes, tag);
}

DeviceBuffer Mlp::activation()
{
    return alloc(
        static_cast<size_t>(m_config.batch) * m_config.hidden * elementSize(m_config.precision), Tag::Activation);
}

size_t Mlp::parameterCount() const
{
    size_t n = 0;
    for (const Linear& l : m_layers)
        n += l.count();
    return n;
}

bool Mlp::isCheckpoint(int index) const
{
    return !checkpointing() || index == m_config.layers || index % m_config.checkpoint == 0;
}

Mlp::Fp32View Mlp::asFp32(const DeviceBuffer& stored)
{
    if (m_config.precision == DType::Fp32)
        return { stored.f32(), {} };
    const size_t n = static_cast<size_t>(m_config.batch) * m_config.hidden;
    DeviceBuffer copy = alloc(n * sizeof(float), Tag::Workspace);
    m_backend.load(stored.get(), copy.f32(), m_config.precision, n);
    const float* p = copy.f32();
    return { p, std::move(copy) };
}

void Mlp::linearForward(const Linear& l, const float* in, float* out)
{
    m_backend.gemm(false, false, m_config.batch, l.out, l.in, 1.0f, in, l.w(), 0.0f, out);
    m_backend.addBias(out, l.b(), m_config.batch, l.out);
}

// Block k reads h_{k-1} and writes h_k (and the relu output a_k when it is kept for backward).
void Mlp::blockForward(int k, bool keepRelu, bool writeHidden)
{
    ScopedRange range("layer", k);
    const size_t n = static_cast<size_t>(m_config.batch) * m_config.hidden;
    Fp32View in = asFp32(m_hidden[k - 1]);
    DeviceBuffer z = alloc(n * sizeof(float), Tag::Workspace);
    linearForward(m_layers[k], in.ptr, z.f32());
    if (keepRelu)
        m_relu[k] = activation();
    if (writeHidden)
        m_hidden[k] = activation();
    m_backend.blockForward(z.f32(), in.ptr, keepRelu ? m_relu[k].get() : nullptr,
        writeHidden ? m_hidden[k].get() : nullptr, m_config.precision, n);
}

float Mlp::forwardBackward(const float* x, const float* target)
{
    DeviceBuffer dy;
    const float loss = forward(x, target, dy);
    backward(x, dy);
    return loss;
}

// Runs layers 0..L+1; fills dy with dLoss/dy (allocated at the head, as autograd would).
float Mlp::forward(const float* x, const float* target, DeviceBuffer& dy)
{
    ScopedRange forward("forward");
    const int layers = m_config.layers;
    const size_t hiddenN = static_cast<size_t>(m_config.batch) * m_config.hidden;
    const size_t outN = static_cast<size_t>(m_config.batch) * m_config.outputDim;
    {
        ScopedRange range("layer", 0);
        DeviceBuffer z = alloc(hiddenN * sizeof(float), Tag::Workspace);
        linearForward(m_layers[0], x, z.f32());
        m_hidden[0] = activation();
        m_backend.store(z.f32(), m_hidden[0].get(), m_config.precision, hiddenN);
    }
    for (int k = 1; k <= layers; ++k) {
        blockForward(k, !checkpointing(), true);
        if (!isCheckpoint(k - 1))
            m_hidden[k - 1].reset();
    }
    ScopedRange range("layer", layers + 1);
    Fp32View in = asFp32(m_hidden[layers]);
    DeviceBuffer y = alloc(outN * sizeof(float), Tag::Workspace);
    linearForward(m_layers[layers + 1], in.ptr, y.f32());
    dy = alloc(outN * sizeof(float), Tag::ActivationGrad);
    return m_backend.mseLoss(y.f32(), target, dy.f32(), outN);
}

// dW = in^T dOut and db = column sums of dOut, written to the layer's gradient buffer.
void Mlp::weightGradients(Linear& l, const float* in, const float* dOut)
{
    m_backend.gemm(true, false, l.in, l.out, m_config.batch, 1.0f, in, dOut, 0.0f, l.grads.f32());
    m_backend.columnSum(dOut, l.grads.f32() + static_cast<size_t>(l.in) * l.out, m_config.batch, l.out);
}

void Mlp::backward(const float* x, DeviceBuffer& dy)
{
    ScopedRange backward("backward");
    const int layers = m_config.layers;
    for (Linear& l : m_layers)
        if (!l.grads)
            l.grads = alloc(l.count() * sizeof(float), Tag::Grad);
    DeviceBuffer dh = alloc(static_cast<size_t>(m_config.batch) * m_config.hidden * sizeof(float), Tag::ActivationGrad);
    {
        ScopedRange range("layer", layers + 1);
        Linear& head = m_layers[layers + 1];
        Fp32View in = asFp32(m_hidden[layers]);
        weightGradients(head, in.ptr, dy.f32());
        m_backend.gemm(false, true, m_config.batch, head.in, head.out, 1.0f, dy.f32(), head.w(), 0.0f, dh.f32());
        dy.reset();
    }
    m_hidden[layers].reset();
    for (int k = layers; k >= 1; --k) {
        if (!m_relu[k]) {
            const int first = ((k - 1) / m_config.checkpoint) * m_config.checkpoint + 1;
            recomputeSegment(first, k);
        }
        blockBackward(k, dh.f32());
    }
    ScopedRange range("layer", 0);
    weightGradients(m_layers[0], x, dh.f32());
}

// Rebuilds a_first..a_last and h_first..h_{last-1} from the checkpoint h_{first-1}.
void Mlp::recomputeSegment(int firstBlock, int lastBlock)
{
    ScopedRange range("recompute");
    // h_last itself is not rebuilt: backward of block k needs h_{k-1} and a_k only.
    for (int k = firstBlock; k <= lastBlock; ++k)
        blockForward(k, true, k != lastBlock);
}

// grad holds dL/dh_k on entry and dL/dh_{k-1} on return.
void Mlp::blockBackward(int k, float* grad)
{
    ScopedRange range("layer", k);
    const size_t n = static_cast<size_t>(m_config.batch) * m_config.hidden;
    Linear& l = m_layers[k];
    DeviceBuffer dz = alloc(n * sizeof(float), Tag::Workspace);
    m_backend.reluBackward(grad, m_relu[k].get(), m_config.precision, dz.f32(), n);
    {
        Fp32View in = asFp32(m_hidden[k - 1]);
        weightGradients(l, in.ptr, dz.f32());
    }
    // The residual path passes grad through unchanged; the branch adds dz W^T on top (beta = 1).
    m_backend.gemm(false, true, m_config.batch, l.in, l.out, 1.0f, dz.f32(), l.w(), 1.0f, grad);
    m_relu[k].reset();
    m_hidden[k - 1].reset();
}

void Mlp::optimizerStep(float lr)
{
    ScopedRange range("optimizer");
    ++m_step;
    for (Linear& l : m_layers) {
        const size_t bytes = l.count() * sizeof(float);
        if (!l.adamM) {
            l.adamM = alloc(bytes, Tag::OptimizerState);
            l.adamV = alloc(bytes, Tag::OptimizerState);
            m_backend.fillZero(l.adamM.get(), bytes);
            m_backend.fillZero(l.adamV.get(), bytes);
        }
        m_backend.adamStep(l.params.f32(), l.grads.f32(), l.adamM.f32(), l.adamV.f32(), l.count(), lr, m_step);
    }
}

void Mlp::allreduceGradients(Communicator& comm)
{
    ScopedRange range("allreduce");
    const float scale = 1.0f / static_cast<float>(comm.size());
    for (Linear& l : m_layers) {
        m_staging.resize(l.count());
        m_backend.copyToHost(m_staging.data(), l.grads.get(), l.count() * sizeof(float));
        comm.allreduceSum(m_staging.data(), m_staging.size());
        for (float& g : m_staging)
            g *= scale;
        m_backend.copyToDevice(l.grads.get(), m_staging.data(), l.count() * sizeof(float));
    }
}

uint64_t Mlp::parameterChecksum()
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (Linear& l : m_layers) {
        m_staging.resize(l.count());
        m_backend.copyToHost(m_staging.data(), l.params.get(), l.count() * sizeof(float));
        const auto* bytes = reinterpret_cast<const unsigned char*>(m_staging.data());
        for (size_t i = 0; i < l.count() * sizeof(float); ++i)
            h = (h ^ bytes[i]) * 0x100000001b3ull;
    }
    return h;
}

} // namespace tidemark::train
