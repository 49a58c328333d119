// Where CPython 3.9-3.13 (x86-64, release builds) keep what the interposer reads to name the Python
// functions a thread is running: its thread state's frame chain, each frame's code object and
// instruction, and the code object's file and function names. The figures are offsetof() against
// each version's own headers; tests/e2e/python/layout_probe.c prints them and a test compares.
#pragma once

#include <cstdint>

namespace tidemark::interposer::python {

struct Layout {
    unsigned minor; // 3.minor
    // PyThreadState: the innermost frame, or (3.11, 3.12) the _PyCFrame holding it.
    uint16_t tstateFrame;
    int16_t cframeFrame; // offset of current_frame in _PyCFrame; -1 when tstateFrame is the frame
    // The frame (PyFrameObject up to 3.10, _PyInterpreterFrame from 3.11).
    uint16_t frameCode;
    uint16_t framePrevious;
    uint16_t frameInstr; // 3.9/3.10: int f_lasti; 3.11+: pointer to the current instruction
    int16_t frameIsEntry; // 3.11: bool, true for the frame the C eval loop was entered with
    int16_t frameOwner;   // 3.11+: char; from 3.12 the eval loop's shim frame has owner 3
    int8_t ownerCStack;   // that owner value; -1 before 3.12
    uint8_t lastiScale;   // 3.9: f_lasti counts bytes (1); 3.10: code units (2); 3.11+: unused
    // PyCodeObject
    uint16_t codeFilename;
    uint16_t codeName; // co_name up to 3.10, co_qualname from 3.11
    int16_t codeBytecode; // 3.11+: offset of the first instruction (co_code_adaptive); -1 before
    uint16_t codeFirstLine;
    // str: PyASCIIObject and PyCompactUnicodeObject sizes (the text follows the header).
    uint16_t asciiHeader;
    uint16_t compactHeader;
};

// Common to every version: PyObject's ob_type, PyASCIIObject's length and state fields and the
// bits of the state word (kind: 3 bits at 2, compact at 5, ascii at 6).
constexpr uint16_t kObType = 8;
constexpr uint16_t kStrLength = 16;
constexpr uint16_t kStrState = 32;
constexpr unsigned kStrKindShift = 2;
constexpr unsigned kStrCompactBit = 5;
constexpr unsigned kStrAsciiBit = 6;

inline constexpr Layout kLayouts[] = {
    // minor tstate cframe code prev instr entry owner cstack scale file name bytecode first ascii compact
    { 9, 24, -1, 32, 24, 104, -1, -1, -1, 1, 104, 112, -1, 40, 48, 72 },
    { 10, 24, -1, 32, 24, 96, -1, -1, -1, 2, 104, 112, -1, 40, 48, 72 },
    { 11, 56, 8, 32, 48, 56, 68, 69, -1, 0, 112, 128, 184, 72, 48, 72 },
    { 12, 56, 0, 0, 8, 56, -1, 70, 3, 0, 112, 128, 192, 68, 40, 56 },
    { 13, 72, -1, 0, 8, 56, -1, 70, 3, 0, 112, 128, 200, 68, 40, 56 },
};

inline const Layout* layoutFor(unsigned minor) noexcept
{
    for (const Layout& l : kLayouts)
        if (l.minor == minor)
            return &l;
    return nullptr;
}

} // namespace tidemark::interposer::python
