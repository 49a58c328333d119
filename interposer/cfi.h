// The DWARF call-frame-information unwinder's rule finder: for a code address in a loaded module it
// reads the module's .eh_frame_hdr search table and .eh_frame (as mapped by the loader), runs the
// CFA program up to that address and reduces the result to the few numbers a return-address walk
// needs (how to find the caller's stack pointer, return address and frame pointer). It allocates
// nothing and takes no lock of ours, so it runs inside malloc; stacks.cpp caches its answers.
#pragma once

#include <cstdint>

namespace tidemark::interposer::cfi {

// How the canonical frame address (the caller's stack pointer) is found at a code address.
enum class CfaKind : uint8_t {
    Unknown = 0,   // no unwind information, or rules this walker does not follow: stop here
    Rsp = 1,       // CFA = rsp + cfaOffset
    Rbp = 2,       // CFA = rbp + cfaOffset
    DerefRbp = 3,  // CFA = *(rbp + cfaOffset) (GCC's dynamic realignment, "DRAP")
    Signal = 4,    // a signal trampoline (__restore_rt): the caller's registers are in the ucontext at rsp
    End = 5,       // the outermost frame (return address undefined: _start, thread start)
    FramePointer = 6, // a module without unwind tables: assume the rbp chain (CFA = rbp + 16)
};

// Where the caller's rbp is after the step.
enum class RbpKind : uint8_t {
    Same = 0,    // unchanged (the callee never saved it, or restored it already)
    Saved = 1,   // saved at CFA + rbpOffset
    Unknown = 2, // lost (kept in another register, or by an expression): the walk may continue only
                 // while no later frame needs rbp
    AtRbp = 3,   // saved at rbp + rbpOffset (GCC's realigned frames)
};

// A rule, 8 bytes so a cache slot is 16 with its key.
struct Rule {
    int32_t cfaOffset = 0;
    int16_t rbpOffset = 0;  // when rbp is Saved or AtRbp
    int8_t raOffset = -8;   // the return address is at CFA + raOffset
    CfaKind cfa : 4 = CfaKind::Unknown;
    RbpKind rbp : 4 = RbpKind::Same;
};
static_assert(sizeof(Rule) == 8);

// A loaded module's unwind table, found once per module and cached by the caller.
struct Module {
    uintptr_t lo = 0, hi = 0;       // the span of its loadable segments
    const uint8_t* table = nullptr; // .eh_frame_hdr's sorted (initial location, FDE) pairs, 0 = none
    uint32_t count = 0;             // pairs in the table
    uintptr_t hdr = 0;              // .eh_frame_hdr's address (the pairs are relative to it)
};

// Finds the module containing pc with dl_iterate_phdr. False when no module contains it (JIT code,
// a stale address); a module without .eh_frame_hdr comes back with table == nullptr.
bool findModule(uintptr_t pc, Module* out) noexcept;

// The rule at pc in module m (pc inside m). A return address is looked up as ra - 1, the call
// instruction, unless the frame was interrupted by a signal (then pc is the faulting instruction).
Rule findRule(const Module& m, uintptr_t pc) noexcept;

} // namespace tidemark::interposer::cfi
