// A library that uses the CUDA runtime, for dlopen_cuda_app: it is linked against the fake cudart
// TEST DOUBLE, and the app loads it with dlopen(RTLD_LOCAL), as Python loads libtorch_cuda.so.
#include <cuda_runtime_api.h>

extern "C" __attribute__((visibility("default"))) int cudaUserAllocate(void** out, size_t bytes)
{
    return static_cast<int>(cudaMalloc(out, bytes));
}

extern "C" __attribute__((visibility("default"))) int cudaUserFree(void* p)
{
    return static_cast<int>(cudaFree(p));
}
