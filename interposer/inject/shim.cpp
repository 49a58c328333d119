// libtidemark_inject.so: the library `tidemark record` names in CUDA_INJECTION64_PATH and
// NVTX_INJECTION64_PATH. The capture library is already loaded (LD_PRELOAD); these entry points
// hand the call to it. Naming libtidemark.so there made CUDA and NVTX dlopen the preloaded library
// a second time, and in a program built with AddressSanitizer the loader's bookkeeping for that
// reopening was reported as a leak at exit (LeakSanitizer does not scan the memory where the loader
// keeps preloaded objects): the program's exit status changed because it was profiled.
#include <dlfcn.h>

namespace {

int thisLibrary = 0;

// The capture library's definition of an entry point (the first in the global scope), never this
// library's own, which dlsym finds when no capture library is loaded.
template <class Fn>
Fn captureEntry(const char* name)
{
    auto fn = reinterpret_cast<Fn>(dlsym(RTLD_DEFAULT, name));
    Dl_info found {}, self {};
    if (!fn || !dladdr(reinterpret_cast<void*>(fn), &found) || !dladdr(&thisLibrary, &self))
        return nullptr;
    return found.dli_fbase == self.dli_fbase ? nullptr : fn;
}

} // namespace

extern "C" {

// CUDA: CUPTI. Returns 1 whatever happens: CUDA carries on.
__attribute__((visibility("default"))) int InitializeInjection(void)
{
    auto fn = captureEntry<int (*)()>("InitializeInjection");
    return fn ? fn() : 1;
}

// NVTX core and extensions (the memory extension). 0 without the capture library: NVTX's calls
// become no-ops.
__attribute__((visibility("default"))) int InitializeInjectionNvtx2(void* getExportTable)
{
    auto fn = captureEntry<int (*)(void*)>("InitializeInjectionNvtx2");
    return fn ? fn(getExportTable) : 0;
}

__attribute__((visibility("default"))) int InitializeInjectionNvtxExtension(void* info)
{
    auto fn = captureEntry<int (*)(void*)>("InitializeInjectionNvtxExtension");
    return fn ? fn(info) : 0;
}

} // extern "C"
