// A shared library for programs/stack_paths, always built without frame pointers (as distribution
// libraries are): in "library" mode the program's recursion passes through it now and then, so one
// stack mixes frames with and without frame pointers, in two modules.
#include <cstdint>

extern "C" __attribute__((visibility("default"), noinline)) void tm_stack_lib_through(
    void (*next)(void*, unsigned, unsigned), void* ctx, unsigned path, unsigned depth)
{
    // Some stack of its own, and a call that is not a tail call.
    volatile uint64_t scratch[6] = { path, depth, 0, 0, 0, 0 };
    next(ctx, unsigned(scratch[0]) * 7 + 1, unsigned(scratch[1]));
    asm volatile("" ::: "memory");
}
