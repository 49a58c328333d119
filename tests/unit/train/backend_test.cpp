// The CPU backend's kernels against naive references, and the row-major -> column-major GEMM
// mapping the CUDA backend hands to cuBLAS, checked here through CBLAS in column-major mode (the
// CUDA backend itself cannot run without a GPU; this is the part of it that can be checked).
#include "backend.h"
#include "elementwise.h"

#include <cblas.h>
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

using namespace tidemark::train;

namespace {

std::vector<float> randomVector(size_t n, unsigned seed)
{
    std::mt19937 gen(seed);
    std::normal_distribution<float> d;
    std::vector<float> v(n);
    for (float& x : v)
        x = d(gen);
    return v;
}

// Row-major reference: C = op(A) op(B), op(A) m x k, op(B) k x n.
std::vector<float> naiveGemm(
    bool ta, bool tb, int m, int n, int k, const std::vector<float>& a, const std::vector<float>& b)
{
    std::vector<float> c(static_cast<size_t>(m) * n);
    for (int i = 0; i < m; ++i)
        for (int j = 0; j < n; ++j) {
            double s = 0;
            for (int p = 0; p < k; ++p) {
                const float av = ta ? a[static_cast<size_t>(p) * m + i] : a[static_cast<size_t>(i) * k + p];
                const float bv = tb ? b[static_cast<size_t>(j) * k + p] : b[static_cast<size_t>(p) * n + j];
                s += static_cast<double>(av) * bv;
            }
            c[static_cast<size_t>(i) * n + j] = static_cast<float>(s);
        }
    return c;
}

void expectClose(const std::vector<float>& got, const std::vector<float>& want, float tol)
{
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i)
        ASSERT_NEAR(got[i], want[i], tol * (1.0f + std::fabs(want[i]))) << "at " << i;
}

} // namespace

TEST(BackendTest, CpuGemmMatchesNaiveForEveryTransposition)
{
    auto cpu = makeCpuBackend();
    const int m = 7, n = 5, k = 9;
    for (int ta = 0; ta < 2; ++ta)
        for (int tb = 0; tb < 2; ++tb) {
            const auto a = randomVector(static_cast<size_t>(m) * k, 1), b = randomVector(static_cast<size_t>(k) * n, 2);
            std::vector<float> c(static_cast<size_t>(m) * n, 0.0f);
            cpu->gemm(ta, tb, m, n, k, 1.0f, a.data(), b.data(), 0.0f, c.data());
            expectClose(c, naiveGemm(ta, tb, m, n, k, a, b), 1e-5f);
            // beta = 1 accumulates (the residual backward relies on it).
            cpu->gemm(ta, tb, m, n, k, 1.0f, a.data(), b.data(), 1.0f, c.data());
            auto twice = naiveGemm(ta, tb, m, n, k, a, b);
            for (float& x : twice)
                x *= 2;
            expectClose(c, twice, 1e-5f);
        }
}

TEST(BackendTest, ColumnMajorMappingForCublasComputesTheRowMajorProduct)
{
    const int m = 6, n = 11, k = 4;
    for (int ta = 0; ta < 2; ++ta)
        for (int tb = 0; tb < 2; ++tb) {
            const auto a = randomVector(static_cast<size_t>(m) * k, 3), b = randomVector(static_cast<size_t>(k) * n, 4);
            std::vector<float> c(static_cast<size_t>(m) * n, 0.0f);
            const ColumnMajorGemm g = columnMajorGemmFor(ta, tb, m, n, k);
            // Exactly the call the CUDA backend makes to cublasSgemm, made to a column-major CBLAS.
            cblas_sgemm(CblasColMajor, g.transFirst ? CblasTrans : CblasNoTrans,
                g.transSecond ? CblasTrans : CblasNoTrans, g.m, g.n, g.k, 1.0f, b.data(), g.ldFirst, a.data(),
                g.ldSecond, 0.0f, c.data(), g.ldc);
            expectClose(c, naiveGemm(ta, tb, m, n, k, a, b), 1e-5f);
        }
}

TEST(BackendTest, ElementwiseKernelsMatchTheirDefinitions)
{
    auto cpu = makeCpuBackend();
    const int rows = 3, cols = 4;
    const size_t n = rows * cols;
    const auto z0 = randomVector(n, 5), h = randomVector(n, 6), bias = randomVector(cols, 7), g = randomVector(n, 8);

    auto z = z0;
    cpu->addBias(z.data(), bias.data(), rows, cols);
    for (size_t i = 0; i < n; ++i)
        EXPECT_EQ(z[i], z0[i] + bias[i % cols]);

    std::vector<float> a(n, -1.0f), hOut(n, -1.0f);
    cpu->blockForward(z.data(), h.data(), a.data(), hOut.data(), DType::Fp32, n);
    for (size_t i = 0; i < n; ++i) {
        EXPECT_EQ(a[i], std::max(z[i], 0.0f));
        EXPECT_EQ(hOut[i], h[i] + std::max(z[i], 0.0f));
    }
    std::vector<float> untouched(n, 42.0f);
    cpu->blockForward(z.data(), h.data(), nullptr, untouched.data(), DType::Fp32, n); // a may be null
    cpu->blockForward(z.data(), h.data(), untouched.data(), nullptr, DType::Fp32, n); // and hOut
    EXPECT_EQ(untouched, a);

    std::vector<float> dz(n);
    cpu->reluBackward(g.data(), a.data(), DType::Fp32, dz.data(), n);
    for (size_t i = 0; i < n; ++i)
        EXPECT_EQ(dz[i], a[i] > 0 ? g[i] : 0.0f);

    std::vector<float> sums(cols);
    cpu->columnSum(g.data(), sums.data(), rows, cols);
    for (int c = 0; c < cols; ++c)
        EXPECT_NEAR(sums[c], g[c] + g[cols + c] + g[2 * cols + c], 1e-6f);

    std::vector<float> grad(n);
    const float loss = cpu->mseLoss(z.data(), h.data(), grad.data(), n);
    double want = 0;
    for (size_t i = 0; i < n; ++i) {
        want += (z[i] - h[i]) * static_cast<double>(z[i] - h[i]);
        EXPECT_NEAR(grad[i], 2.0f * (z[i] - h[i]) / n, 1e-6f);
    }
    EXPECT_NEAR(loss, want / n, 1e-6);
}

TEST(BackendTest, AdamMatchesADoublePrecisionReference)
{
    auto cpu = makeCpuBackend();
    const size_t n = 16;
    auto p = randomVector(n, 9);
    std::vector<float> m(n, 0.0f), v(n, 0.0f);
    std::vector<double> rp(p.begin(), p.end()), rm(n, 0.0), rv(n, 0.0);
    const float lr = 0.01f;
    for (int step = 1; step <= 3; ++step) {
        const auto g = randomVector(n, 10 + step);
        cpu->adamStep(p.data(), g.data(), m.data(), v.data(), n, lr, step);
        for (size_t i = 0; i < n; ++i) {
            rm[i] = 0.9 * rm[i] + 0.1 * g[i];
            rv[i] = 0.999 * rv[i] + 0.001 * g[i] * static_cast<double>(g[i]);
            const double mh = rm[i] / (1 - std::pow(0.9, step)), vh = rv[i] / (1 - std::pow(0.999, step));
            rp[i] -= lr * mh / (std::sqrt(vh) + 1e-8);
        }
    }
    for (size_t i = 0; i < n; ++i)
        EXPECT_NEAR(p[i], rp[i], 1e-5) << i;
}

TEST(BackendTest, CpuSegmentsArePageAligned)
{
    auto cpu = makeCpuBackend();
    void* p = cpu->allocateSegment(2 << 20);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 4096, 0u);
    cpu->freeSegment(p, 2 << 20);
}
