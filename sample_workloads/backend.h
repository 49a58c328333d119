// The compute and memory interface tidemark-train runs on: a CPU backend (CBLAS + loops) and a
// CUDA backend (cuBLAS + our kernels). All pointers passed to the kernels are device pointers of
// the backend; math is fp32, stored activations may be fp16/bf16 (see half.h).
#pragma once

#include "half.h"

#include <cstddef>
#include <memory>
#include <string>

namespace tidemark::train {

// Where the caching allocator gets its segments from (cudaMalloc, or aligned host memory).
class SegmentSource {
public:
    virtual ~SegmentSource() = default;
    // Returns nullptr when the memory is not available (the allocator then frees its cache and retries).
    virtual void* allocateSegment(size_t bytes) = 0;
    virtual void freeSegment(void* ptr, size_t bytes) = 0;
};

class Backend : public SegmentSource {
public:
    virtual const char* name() const = 0;
    virtual void copyToDevice(void* dst, const void* src, size_t bytes) = 0;
    virtual void copyToHost(void* dst, const void* src, size_t bytes) = 0;
    virtual void synchronize() = 0;

    // Row-major C[m x n] = alpha * op(A) * op(B) + beta * C, op(A) is m x k, op(B) is k x n.
    virtual void gemm(bool transA, bool transB, int m, int n, int k, float alpha, const float* a, const float* b,
        float beta, float* c)
        = 0;
    // z[r][c] += bias[c] for a rows x cols matrix.
    virtual void addBias(float* z, const float* bias, int rows, int cols) = 0;
    // Residual block: a = relu(z) and hOut = h + relu(z), both stored as t; either may be null (skipped).
    virtual void blockForward(const float* z, const float* h, void* a, void* hOut, DType t, size_t n) = 0;
    virtual void store(const float* src, void* dst, DType t, size_t n) = 0;
    virtual void load(const void* src, float* dst, DType t, size_t n) = 0;
    // dz = g where the stored relu output a is positive, else 0.
    virtual void reluBackward(const float* g, const void* a, DType t, float* dz, size_t n) = 0;
    // out[c] = sum over rows of m[r][c].
    virtual void columnSum(const float* m, float* out, int rows, int cols) = 0;
    // Mean squared error over n values; writes dLoss/dy to grad and returns the loss.
    virtual float mseLoss(const float* y, const float* target, float* grad, size_t n) = 0;
    // One Adam step (bias-corrected) on n parameters; step counts from 1.
    virtual void adamStep(float* param, const float* grad, float* m, float* v, size_t n, float lr, int step) = 0;
    virtual void fillZero(void* ptr, size_t bytes) = 0;
};

std::unique_ptr<Backend> makeCpuBackend();

// CUDA: present only when the build found nvcc. cudaDeviceCount() returns 0 (not an error) when the
// backend is not built, the driver is missing, or no device exists; noteOut says why.
bool cudaBackendBuilt();
int cudaDeviceCount(std::string* noteOut);
std::unique_ptr<Backend> makeCudaBackend(std::string* errorOut);

} // namespace tidemark::train
