// CUDA backend: segments from cudaMalloc, GEMM from cuBLAS, the elementwise work in our kernels.
// Built whenever nvcc is present; it can only run where a GPU and driver exist (none on the
// project's machines: see docs/workload.md). The runtime is linked shared so an LD_PRELOAD
// profiler sees every cudaMalloc/cudaFree this file makes.
#include "backend.h"
#include "elementwise.h"

#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <dlfcn.h>

#include <cmath>
#include <stdexcept>
#include <string>

namespace tidemark::train {

namespace {

    constexpr int kThreads = 256;

    int blocksFor(size_t n)
    {
        return static_cast<int>((n + kThreads - 1) / kThreads);
    }

    void check(cudaError_t e, const char* what)
    {
        if (e != cudaSuccess)
            throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(e));
    }

    void check(cublasStatus_t s, const char* what)
    {
        if (s != CUBLAS_STATUS_SUCCESS)
            throw std::runtime_error(std::string(what) + ": cuBLAS status " + std::to_string(static_cast<int>(s)));
    }

    __device__ float loadAs(const void* p, size_t i, int t)
    {
        if (t == 0)
            return static_cast<const float*>(p)[i];
        if (t == 1)
            return __half2float(static_cast<const __half*>(p)[i]);
        return __bfloat162float(static_cast<const __nv_bfloat16*>(p)[i]);
    }

    __device__ void storeAs(void* p, size_t i, int t, float v)
    {
        if (t == 0)
            static_cast<float*>(p)[i] = v;
        else if (t == 1)
            static_cast<__half*>(p)[i] = __float2half_rn(v);
        else
            static_cast<__nv_bfloat16*>(p)[i] = __float2bfloat16_rn(v);
    }

    __global__ void addBiasKernel(float* z, const float* bias, int rows, int cols)
    {
        const size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x;
        if (i < static_cast<size_t>(rows) * cols)
            z[i] += bias[i % cols];
    }

    __global__ void blockForwardKernel(const float* z, const float* h, void* a, void* hOut, int t, size_t n)
    {
        const size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x;
        if (i >= n)
            return;
        const float r = relu(z[i]);
        if (a)
            storeAs(a, i, t, r);
        if (hOut)
            storeAs(hOut, i, t, h[i] + r);
    }

    __global__ void storeKernel(const float* src, void* dst, int t, size_t n)
    {
        const size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x;
        if (i < n)
            storeAs(dst, i, t, src[i]);
    }

    __global__ void loadKernel(const void* src, float* dst, int t, size_t n)
    {
        const size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x;
        if (i < n)
            dst[i] = loadAs(src, i, t);
    }

    __global__ void reluBackwardKernel(const float* g, const void* a, int t, float* dz, size_t n)
    {
        const size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x;
        if (i < n)
            dz[i] = loadAs(a, i, t) > 0.0f ? g[i] : 0.0f;
    }

    __global__ void columnSumKernel(const float* m, float* out, int rows, int cols)
    {
        const int c = blockIdx.x * blockDim.x + threadIdx.x;
        if (c >= cols)
            return;
        float s = 0.0f;
        for (int r = 0; r < rows; ++r)
            s += m[static_cast<size_t>(r) * cols + c];
        out[c] = s;
    }

    // One block, fixed reduction order: the loss is bit-identical from run to run.
    __global__ void mseKernel(const float* y, const float* target, float* grad, size_t n, float* loss)
    {
        __shared__ float partial[kThreads];
        float s = 0.0f;
        for (size_t i = threadIdx.x; i < n; i += blockDim.x) {
            const float d = y[i] - target[i];
            s += d * d;
            grad[i] = mseGradient(d, static_cast<float>(n));
        }
        partial[threadIdx.x] = s;
        __syncthreads();
        for (int stride = blockDim.x / 2; stride > 0; stride /= 2) {
            if (threadIdx.x < stride)
                partial[threadIdx.x] += partial[threadIdx.x + stride];
            __syncthreads();
        }
        if (threadIdx.x == 0)
            *loss = partial[0] / static_cast<float>(n);
    }

    __global__ void adamKernel(float* p, const float* g, float* m, float* v, size_t n, AdamStepParams s)
    {
        const size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x;
        if (i < n)
            adamUpdate(p[i], g[i], m[i], v[i], s);
    }

    // cuBLAS is opened only when the CUDA backend is actually used: its libraries' static
    // constructors make ~74,000 host allocations (most never freed), which would otherwise show up
    // in every CPU run a user profiles.
    struct Cublas {
        decltype(&cublasCreate_v2) create = nullptr;
        decltype(&cublasDestroy_v2) destroy = nullptr;
        decltype(&cublasSgemm_v2) sgemm = nullptr;

        void load()
        {
            const std::string name = "libcublas.so." + std::to_string(CUBLAS_VER_MAJOR);
            void* lib = dlopen(name.c_str(), RTLD_NOW | RTLD_GLOBAL);
            if (!lib)
                throw std::runtime_error("cannot load " + name + ": " + dlerror());
            create = reinterpret_cast<decltype(create)>(dlsym(lib, "cublasCreate_v2"));
            destroy = reinterpret_cast<decltype(destroy)>(dlsym(lib, "cublasDestroy_v2"));
            sgemm = reinterpret_cast<decltype(sgemm)>(dlsym(lib, "cublasSgemm_v2"));
            if (!create || !destroy || !sgemm)
                throw std::runtime_error(name + " lacks cublasCreate_v2/cublasDestroy_v2/cublasSgemm_v2");
        }
    };

    class CudaBackend final : public Backend {
    public:
        CudaBackend()
        {
            m_cublas.load();
            check(m_cublas.create(&m_blas), "cublasCreate");
            check(cudaMalloc(&m_loss, sizeof(float)), "cudaMalloc (loss scalar)");
        }
        ~CudaBackend() override
        {
            cudaFree(m_loss);
            m_cublas.destroy(m_blas);
        }
        const char* name() const override { return "cuda"; }

        void* allocateSegment(size_t bytes) override
        {
            void* p = nullptr;
            if (cudaMalloc(&p, bytes) != cudaSuccess) {
                cudaGetLastError(); // clear the sticky-free error so the retry starts clean
                return nullptr;
            }
            return p;
        }
        void freeSegment(void* ptr, size_t) override { cudaFree(ptr); }

        void copyToDevice(void* dst, const void* src, size_t bytes) override
        {
            check(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice), "cudaMemcpy H2D");
        }
        void copyToHost(void* dst, const void* src, size_t bytes) override
        {
            check(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost), "cudaMemcpy D2H");
        }
        void synchronize() override { check(cudaDeviceSynchronize(), "cudaDeviceSynchronize"); }

        // cuBLAS is column-major: see columnMajorGemmFor (checked against CBLAS in the CPU tests).
        void gemm(bool transA, bool transB, int m, int n, int k, float alpha, const float* a, const float* b,
            float beta, float* c) override
        {
            const ColumnMajorGemm g = columnMajorGemmFor(transA, transB, m, n, k);
            check(m_cublas.sgemm(m_blas, g.transFirst ? CUBLAS_OP_T : CUBLAS_OP_N,
                      g.transSecond ? CUBLAS_OP_T : CUBLAS_OP_N, g.m, g.n, g.k, &alpha, b, g.ldFirst, a, g.ldSecond,
                      &beta, c, g.ldc),
                "cublasSgemm");
        }
        void addBias(float* z, const float* bias, int rows, int cols) override
        {
            addBiasKernel<<<blocksFor(static_cast<size_t>(rows) * cols), kThreads>>>(z, bias, rows, cols);
        }
        void blockForward(const float* z, const float* h, void* a, void* hOut, DType t, size_t n) override
        {
            blockForwardKernel<<<blocksFor(n), kThreads>>>(z, h, a, hOut, static_cast<int>(t), n);
        }
        void store(const float* src, void* dst, DType t, size_t n) override
        {
            storeKernel<<<blocksFor(n), kThreads>>>(src, dst, static_cast<int>(t), n);
        }
        void load(const void* src, float* dst, DType t, size_t n) override
        {
            loadKernel<<<blocksFor(n), kThreads>>>(src, dst, static_cast<int>(t), n);
        }
        void reluBackward(const float* g, const void* a, DType t, float* dz, size_t n) override
        {
            reluBackwardKernel<<<blocksFor(n), kThreads>>>(g, a, static_cast<int>(t), dz, n);
        }
        void columnSum(const float* m, float* out, int rows, int cols) override
        {
            columnSumKernel<<<blocksFor(cols), kThreads>>>(m, out, rows, cols);
        }
        float mseLoss(const float* y, const float* target, float* grad, size_t n) override
        {
            mseKernel<<<1, kThreads>>>(y, target, grad, n, m_loss);
            float loss = 0.0f;
            copyToHost(&loss, m_loss, sizeof loss);
            return loss;
        }
        void adamStep(float* param, const float* grad, float* m, float* v, size_t n, float lr, int step) override
        {
            adamKernel<<<blocksFor(n), kThreads>>>(param, grad, m, v, n, adamStepParams(lr, step));
        }
        void fillZero(void* ptr, size_t bytes) override { check(cudaMemset(ptr, 0, bytes), "cudaMemset"); }

    private:
        Cublas m_cublas;
        cublasHandle_t m_blas = nullptr;
        float* m_loss = nullptr;
    };

    static_assert(
        static_cast<int>(DType::Fp32) == 0 && static_cast<int>(DType::Fp16) == 1 && static_cast<int>(DType::Bf16) == 2,
        "the kernels encode DType as 0/1/2");

} // namespace

bool cudaBackendBuilt()
{
    return true;
}

int cudaDeviceCount(std::string* noteOut)
{
    int count = 0;
    // Without a driver this returns an error (insufficient driver / no device) rather than crashing:
    // libcudart loads libcuda lazily, on this first call.
    const cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess) {
        if (noteOut)
            *noteOut = cudaGetErrorString(e);
        cudaGetLastError();
        return 0;
    }
    if (count == 0 && noteOut)
        *noteOut = "the driver reports no device";
    return count;
}

std::unique_ptr<Backend> makeCudaBackend(std::string* errorOut)
{
    std::string note;
    if (cudaDeviceCount(&note) == 0) {
        if (errorOut)
            *errorOut = "no CUDA device: " + note;
        return nullptr;
    }
    try {
        return std::make_unique<CudaBackend>();
    } catch (const std::exception& e) {
        if (errorOut)
            *errorOut = e.what();
        return nullptr;
    }
}

} // namespace tidemark::train
