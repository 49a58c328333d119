// Compiled instead of cuda_backend.cu when the build found no nvcc: the CUDA backend is reported
// as not built, and --device auto falls back to the CPU with a note.
#include "backend.h"

namespace tidemark::train {

bool cudaBackendBuilt()
{
    return false;
}

int cudaDeviceCount(std::string* noteOut)
{
    if (noteOut)
        *noteOut = "built without CUDA";
    return 0;
}

std::unique_ptr<Backend> makeCudaBackend(std::string* errorOut)
{
    if (errorOut)
        *errorOut = "this tidemark-train was built without CUDA";
    return nullptr;
}

} // namespace tidemark::train
