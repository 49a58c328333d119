// Stands in for the CUDA driver's injection step on a machine without a GPU: cuInit looks up
// InitializeInjection in the library named by CUDA_INJECTION64_PATH and calls it once. This program
// finds the symbol the same way (dlopen of that path, dlsym) and calls it, so the real entry point,
// the companion-library loading and the real libcupti's setup run exactly as far as they can here.
#include <cstdio>
#include <cstdlib>
#include <dlfcn.h>

int main()
{
    const char* path = std::getenv("CUDA_INJECTION64_PATH");
    if (!path) {
        std::fprintf(stderr, "CUDA_INJECTION64_PATH is not set\n");
        return 2;
    }
    void* lib = dlopen(path, RTLD_NOW);
    if (!lib) {
        std::fprintf(stderr, "dlopen: %s\n", dlerror());
        return 2;
    }
    auto init = reinterpret_cast<int (*)()>(dlsym(lib, "InitializeInjection"));
    if (!init) {
        std::fprintf(stderr, "InitializeInjection not exported\n");
        return 3;
    }
    int first = init();
    int second = init(); // several static cudarts may each trigger it: must be harmless
    std::printf("TRUTH init first=%d second=%d\n", first, second);
    return 0;
}
