// Functions with known names and lines for the symbolization test (compiled -O2 -g). The test finds
// the expected lines by the marker comments, so edits here cannot silently break the ground truth.
#include <cstdint>

extern "C" __attribute__((noinline)) uintptr_t tmFixtureLeaf()
{
    uintptr_t ra = reinterpret_cast<uintptr_t>(__builtin_return_address(0));
    asm volatile("" : "+r"(ra));
    return ra;
}

namespace tmfixture {

static inline __attribute__((always_inline)) uintptr_t inlinedHelper(int x)
{
    uintptr_t ra = tmFixtureLeaf(); // MARK:inlined-call
    asm volatile("" : "+r"(ra) : "r"(x) : "memory");
    return ra;
}

__attribute__((noinline)) uintptr_t outerWithInline(int x)
{
    uintptr_t ra = inlinedHelper(x); // MARK:outer-call
    asm volatile("" : "+r"(ra) : : "memory");
    return ra;
}

__attribute__((noinline)) uintptr_t directCaller(int x)
{
    uintptr_t ra = tmFixtureLeaf(); // MARK:direct-call
    asm volatile("" : "+r"(ra) : "r"(x) : "memory");
    return ra;
}

} // namespace tmfixture
