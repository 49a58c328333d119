// Per-element math shared by the CPU loops and the CUDA kernels, so the two backends compute the
// same thing by construction and the CPU tests cover the kernels' arithmetic; plus the mapping of a
// row-major GEMM onto a column-major BLAS call (cuBLAS), which the CPU tests check through CBLAS.
#pragma once

#include <cmath>

#ifdef __CUDACC__
#define TIDEMARK_TRAIN_HD __host__ __device__
#else
#define TIDEMARK_TRAIN_HD
#endif

namespace tidemark::train {

constexpr float kAdamBeta1 = 0.9f;
constexpr float kAdamBeta2 = 0.999f;
constexpr float kAdamEps = 1e-8f;

// lr and the bias corrections 1 - beta^step of one optimizer step (computed once, on the host).
struct AdamStepParams {
    float lr;
    float correction1;
    float correction2;
};

inline AdamStepParams adamStepParams(float lr, int step)
{
    return { lr, 1.0f - std::pow(kAdamBeta1, static_cast<float>(step)),
        1.0f - std::pow(kAdamBeta2, static_cast<float>(step)) };
}

TIDEMARK_TRAIN_HD inline void adamUpdate(float& p, float g, float& m, float& v, const AdamStepParams& s)
{
    m = kAdamBeta1 * m + (1.0f - kAdamBeta1) * g;
    v = kAdamBeta2 * v + (1.0f - kAdamBeta2) * g * g;
    p -= s.lr * (m / s.correction1) / (sqrtf(v / s.correction2) + kAdamEps);
}

TIDEMARK_TRAIN_HD inline float relu(float z)
{
    return z > 0.0f ? z : 0.0f;
}

// dLoss/dy of the mean squared error over n values, for d = y - target.
TIDEMARK_TRAIN_HD inline float mseGradient(float d, float n)
{
    return 2.0f * d / n;
}

// Row-major C[m x n] = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: a column-major BLAS
// computes it with the operands swapped and m, n exchanged. Leading dimensions are those of the
// row-major matrices.
struct ColumnMajorGemm {
    bool transFirst; // applies to B, passed first
    bool transSecond; // applies to A, passed second
    int m, n, k;
    int ldFirst, ldSecond, ldc;
};

inline ColumnMajorGemm columnMajorGemmFor(bool transA, bool transB, int m, int n, int k)
{
    return { transB, transA, n, m, k, transB ? k : n, transA ? m : k, n };
}

} // namespace tidemark::train
