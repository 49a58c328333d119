// A tiny shared library the host_pattern program dlopens and dlcloses, to check that module loads
// and unloads are recorded and that a stack inside it resolves against its address range.
#include <cstdlib>

extern "C" __attribute__((noinline, visibility("default"))) void* tidemark_test_plugin_alloc(size_t bytes)
{
    void* p = malloc(bytes);
    asm volatile("" ::: "memory");
    return p;
}
