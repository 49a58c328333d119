// A small shared library for the symbol index tests: exported functions (C and C++), hidden ones only
// .symtab or a debug file can name, a function without an ELF size and an exported data object. Each
// function returns a pc inside its own body (the return address of a call it makes), the ground truth
// a stack unwinder would capture there. Built with every function 64-byte aligned, so most are
// followed by padding that belongs to no function.
#include <cstdint>

#define TM_API extern "C" __attribute__((visibility("default"), noinline))

namespace {

// The return address of its call: a pc inside the calling function. noipa: no clone, no inlining.
__attribute__((noipa)) void* pcInCaller()
{
    return __builtin_return_address(0);
}

volatile int g_sink = 0;

} // namespace

#define TM_EXPORTED(n)                                                                                                 \
    TM_API void* tm_symtest_fn##n()                                                                                    \
    {                                                                                                                  \
        void* pc = pcInCaller();                                                                                       \
        for (int i = 0; i < n; ++i) /* bodies of different sizes */                                                    \
            g_sink = g_sink + i;                                                                                       \
        return pc;                                                                                                     \
    }
TM_EXPORTED(0)
TM_EXPORTED(1)
TM_EXPORTED(2)
TM_EXPORTED(3)
TM_EXPORTED(4)
TM_EXPORTED(5)
TM_EXPORTED(6)
TM_EXPORTED(7)

// Hidden: in .symtab as local symbols, absent from .dynsym.
#define TM_HIDDEN(n)                                                                                                   \
    __attribute__((visibility("hidden"), noipa)) void* tm_symtest_hidden##n()                                          \
    {                                                                                                                  \
        void* pc = pcInCaller();                                                                                       \
        g_sink = g_sink + n;                                                                                           \
        return pc;                                                                                                     \
    }
TM_HIDDEN(0)
TM_HIDDEN(1)
TM_HIDDEN(2)
TM_HIDDEN(3)

namespace {
using Fn = void* (*)();
Fn const kHidden[] = { tm_symtest_hidden0, tm_symtest_hidden1, tm_symtest_hidden2, tm_symtest_hidden3 };
} // namespace

// A pc inside hidden function k (0..3).
TM_API void* tm_symtest_pc_in_hidden(int k)
{
    return kHidden[k & 3]();
}

namespace tmsymtest {
struct Widget {
    __attribute__((visibility("default"), noinline)) static void* grow(int by);
};
void* Widget::grow(int by)
{
    void* pc = pcInCaller();
    g_sink = g_sink + by;
    return pc;
}
} // namespace tmsymtest

// A function without .size (hand-written assembly often has none), 8 bytes of nops and a ret,
// followed at once by a sized one: the first one's extent ends where the second starts.
asm(R"(
    .text
    .globl tm_symtest_nosize
    .type tm_symtest_nosize, @function
tm_symtest_nosize:
    nop; nop; nop; nop; nop; nop; nop; nop
    ret
    .globl tm_symtest_after_nosize
    .type tm_symtest_after_nosize, @function
tm_symtest_after_nosize:
    nop; nop; nop; nop
    ret
    .size tm_symtest_after_nosize, . - tm_symtest_after_nosize
)");

// Data: a pc here is no function's, whatever symbol names the object.
extern "C" __attribute__((visibility("default"))) const uint64_t tm_symtest_table[64] = { 1, 2, 3 };
