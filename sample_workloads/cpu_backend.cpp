// CPU backend: segments are page-aligned host allocations (posix_memalign, so a malloc-family
// profiler sees each one), GEMM is CBLAS (OpenBLAS on Debian), the elementwise kernels are loops.
#include "backend.h"
#include "elementwise.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>

namespace tidemark::train {

namespace {

    constexpr size_t kSegmentAlignment = 4096;

    class CpuBackend final : public Backend {
    public:
        const char* name() const override { return "cpu"; }

        void* allocateSegment(size_t bytes) override
        {
            void* p = nullptr;
            if (posix_memalign(&p, kSegmentAlignment, bytes) != 0)
                return nullptr;
            return p;
        }
        void freeSegment(void* ptr, size_t) override { std::free(ptr); }

        void copyToDevice(void* dst, const void* src, size_t bytes) override { std::memcpy(dst, src, bytes); }
        void copyToHost(void* dst, const void* src, size_t bytes) override { std::memcpy(dst, src, bytes); }
        void synchronize() override { }

        void gemm(bool transA, bool transB, int m, int n, int k, float alpha, const float* a, const float* b,
            float beta, float* c) override
        {
            const int lda = transA ? m : k;
            const int ldb = transB ? k : n;
            cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans, m, n, k,
                alpha, a, lda, b, ldb, beta, c, n);
        }

        void addBias(float* z, const float* bias, int rows, int cols) override
        {
            for (int r = 0; r < rows; ++r) {
                float* row = z + static_cast<size_t>(r) * cols;
                for (int c = 0; c < cols; ++c)
                    row[c] += bias[c];
            }
        }

        void blockForward(const float* z, const float* h, void* a, void* hOut, DType t, size_t n) override
        {
            // Chunked so the fp32 scratch stays small and on the stack of the caller's cache.
            constexpr size_t kChunk = 1024;
            float relu[kChunk];
            float sum[kChunk];
            for (size_t base = 0; base < n; base += kChunk) {
                const size_t len = std::min(kChunk, n - base);
                for (size_t i = 0; i < len; ++i) {
                    relu[i] = tidemark::train::relu(z[base + i]);
                    sum[i] = h[base + i] + relu[i];
                }
                if (a)
                    storeFromFloat(relu, static_cast<char*>(a) + base * elementSize(t), t, len);
                if (hOut)
                    storeFromFloat(sum, static_cast<char*>(hOut) + base * elementSize(t), t, len);
            }
        }

        void store(const float* src, void* dst, DType t, size_t n) override { storeFromFloat(src, dst, t, n); }
        void load(const void* src, float* dst, DType t, size_t n) override { loadToFloat(src, dst, t, n); }

        void reluBackward(const float* g, const void* a, DType t, float* dz, size_t n) override
        {
            constexpr size_t kChunk = 1024;
            float act[kChunk];
            for (size_t base = 0; base < n; base += kChunk) {
                const size_t len = std::min(kChunk, n - base);
                loadToFloat(static_cast<const char*>(a) + base * elementSize(t), act, t, len);
                for (size_t i = 0; i < len; ++i)
                    dz[base + i] = act[i] > 0.0f ? g[base + i] : 0.0f;
            }
        }

        void columnSum(const float* m, float* out, int rows, int cols) override
        {
            std::fill(out, out + cols, 0.0f);
            for (int r = 0; r < rows; ++r) {
                const float* row = m + static_cast<size_t>(r) * cols;
                for (int c = 0; c < cols; ++c)
                    out[c] += row[c];
            }
        }

        float mseLoss(const float* y, const float* target, float* grad, size_t n) override
        {
            double sum = 0.0;
            for (size_t i = 0; i < n; ++i) {
                const float d = y[i] - target[i];
                sum += static_cast<double>(d) * d;
                grad[i] = mseGradient(d, static_cast<float>(n));
            }
            return static_cast<float>(sum / static_cast<double>(n));
        }

        void adamStep(float* param, const float* grad, float* m, float* v, size_t n, float lr, int step) override
        {
            const AdamStepParams s = adamStepParams(lr, step);
            for (size_t i = 0; i < n; ++i)
                adamUpdate(param[i], grad[i], m[i], v[i], s);
        }

        void fillZero(void* ptr, size_t bytes) override { std::memset(ptr, 0, bytes); }
    };

} // namespace

std::unique_ptr<Backend> makeCpuBackend()
{
    return std::make_unique<CpuBackend>();
}

} // namespace tidemark::train
