// Internals of tidemark's CUDA runtime hooks (LD_PRELOAD): the real cudart functions found with
// dlsym(RTLD_NEXT), per-API call counters for the coverage report, and the record helpers the
// hooks in cuda_hooks.cpp share.
#pragma once

#include "trace/enums.h"

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

namespace tidemark::interposer::cuda {

// The real runtime functions (nullptr when this process has no dynamically linked cudart).
struct RealRuntime {
    cudaError_t (*malloc)(void**, size_t);
    cudaError_t (*free)(void*);
    cudaError_t (*mallocAsync)(void**, size_t, cudaStream_t);
    cudaError_t (*mallocAsyncPtsz)(void**, size_t, cudaStream_t);
    cudaError_t (*mallocFromPoolAsync)(void**, size_t, cudaMemPool_t, cudaStream_t);
    cudaError_t (*mallocFromPoolAsyncPtsz)(void**, size_t, cudaMemPool_t, cudaStream_t);
    cudaError_t (*freeAsync)(void*, cudaStream_t);
    cudaError_t (*freeAsyncPtsz)(void*, cudaStream_t);
    cudaError_t (*mallocManaged)(void**, size_t, unsigned);
    cudaError_t (*mallocHost)(void**, size_t);
    cudaError_t (*hostAlloc)(void**, size_t, unsigned);
    cudaError_t (*freeHost)(void*);
    cudaError_t (*mallocPitch)(void**, size_t*, size_t, size_t);
    cudaError_t (*malloc3D)(cudaPitchedPtr*, cudaExtent);
    // Used by the hooks for attribution, never hooked themselves.
    cudaError_t (*getDevice)(int*);
    cudaError_t (*streamGetDevice)(cudaStream_t, int*);
    cudaError_t (*pointerGetAttributes)(cudaPointerAttributes*, const void*);
    cudaError_t (*memGetInfo)(size_t*, size_t*);
};

// Resolves the real functions once (thread-safe); call with a ReentryGuard held, dlsym may allocate.
const RealRuntime& real() noexcept;

// The error a hook returns when the real function cannot be found.
constexpr cudaError_t kNoRealRuntime = cudaErrorInitializationError;

// Coverage: counts one call of api (and one failure when failed), emitting a "seen" stat the first
// time; registers the exit report on first use.
void countCall(Api api, bool failed) noexcept;

// Emits the per-API counts and the hooks' summary line; registered with atexit on first use (and by
// InitializeInjection, so a CUDA process whose allocations never reach the hooks says so).
void registerExitReport() noexcept;

// Total calls seen by the hooks so far.
uint64_t totalCalls() noexcept;

} // namespace tidemark::interposer::cuda
