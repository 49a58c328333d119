// Loads a CUDA-using library with dlopen(RTLD_LOCAL) — the way Python loads libtorch_cuda.so — so its
// libcudart is not in the global lookup scope. tidemark's runtime hooks still bind its cudaMalloc
// (LD_PRELOAD comes first) and must find the real function anyway. Prints ground truth.
#include <cstdio>
#include <dlfcn.h>
#include <string>

int main(int argc, char** argv)
{
    std::string dir = argc > 1 ? argv[1] : ".";
    void* lib = dlopen((dir + "/libtidemark_cuda_user.so").c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        std::fprintf(stderr, "dlopen: %s\n", dlerror());
        return 2;
    }
    auto allocate = reinterpret_cast<int (*)(void**, size_t)>(dlsym(lib, "cudaUserAllocate"));
    auto release = reinterpret_cast<int (*)(void*)>(dlsym(lib, "cudaUserFree"));
    void* p = nullptr;
    int rc = allocate(&p, 1 << 20);
    std::printf("TRUTH alloc rc=%d ptr=%p size=%d\n", rc, p, 1 << 20);
    int rcFree = rc == 0 ? release(p) : -1;
    std::printf("TRUTH free rc=%d\n", rcFree);
    return rc == 0 && rcFree == 0 ? 0 : 1;
}
