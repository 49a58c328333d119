/* Prints the CPython struct offsets tidemark's interposer reads (interposer/python_layouts.h), as
 * compiled against one CPython version's own headers, one "name value" per line. The layout test
 * builds this against every CPython whose headers it finds and compares with the built-in table. */
#define Py_BUILD_CORE 1
#include <Python.h>
#include <stddef.h>
#include <stdio.h>
#if PY_VERSION_HEX >= 0x030B0000
#include <internal/pycore_frame.h>
#else
#include <frameobject.h>
#endif

#define SHOW(name, value) printf("%s %ld\n", name, (long)(value))

int main(void)
{
    SHOW("version", (PY_MAJOR_VERSION << 8) | PY_MINOR_VERSION);
#if PY_VERSION_HEX >= 0x030D0000
    SHOW("tstate_frame", offsetof(PyThreadState, current_frame));
    SHOW("cframe_frame", -1);
#elif PY_VERSION_HEX >= 0x030B0000
    SHOW("tstate_frame", offsetof(PyThreadState, cframe));
    SHOW("cframe_frame", offsetof(_PyCFrame, current_frame));
#else
    SHOW("tstate_frame", offsetof(PyThreadState, frame));
    SHOW("cframe_frame", -1);
#endif
#if PY_VERSION_HEX >= 0x030D0000
    SHOW("frame_code", offsetof(_PyInterpreterFrame, f_executable));
    SHOW("frame_previous", offsetof(_PyInterpreterFrame, previous));
    SHOW("frame_instr", offsetof(_PyInterpreterFrame, instr_ptr));
    SHOW("frame_entry", -1);
    SHOW("frame_owner", offsetof(_PyInterpreterFrame, owner));
    SHOW("owner_cstack", FRAME_OWNED_BY_CSTACK);
#elif PY_VERSION_HEX >= 0x030B0000
    SHOW("frame_code", offsetof(_PyInterpreterFrame, f_code));
    SHOW("frame_previous", offsetof(_PyInterpreterFrame, previous));
    SHOW("frame_instr", offsetof(_PyInterpreterFrame, prev_instr));
#if PY_VERSION_HEX >= 0x030C0000
    SHOW("frame_entry", -1);
#else
    SHOW("frame_entry", offsetof(_PyInterpreterFrame, is_entry));
#endif
    SHOW("frame_owner", offsetof(_PyInterpreterFrame, owner));
#if PY_VERSION_HEX >= 0x030C0000
    SHOW("owner_cstack", FRAME_OWNED_BY_CSTACK);
#else
    SHOW("owner_cstack", -1);
#endif
#else
    SHOW("frame_code", offsetof(PyFrameObject, f_code));
    SHOW("frame_previous", offsetof(PyFrameObject, f_back));
    SHOW("frame_instr", offsetof(PyFrameObject, f_lasti));
    SHOW("frame_entry", -1);
    SHOW("frame_owner", -1);
    SHOW("owner_cstack", -1);
#endif
    SHOW("code_filename", offsetof(PyCodeObject, co_filename));
#if PY_VERSION_HEX >= 0x030B0000
    SHOW("code_name", offsetof(PyCodeObject, co_qualname));
    SHOW("code_bytecode", offsetof(PyCodeObject, co_code_adaptive));
#else
    SHOW("code_name", offsetof(PyCodeObject, co_name));
    SHOW("code_bytecode", -1);
#endif
    SHOW("code_firstlineno", offsetof(PyCodeObject, co_firstlineno));
    SHOW("ascii_header", sizeof(PyASCIIObject));
    SHOW("compact_header", sizeof(PyCompactUnicodeObject));
    SHOW("ascii_length", offsetof(PyASCIIObject, length));
    SHOW("ascii_state", offsetof(PyASCIIObject, state));
    {
        /* Bit positions of the compact and ascii flags inside the state word. */
        PyASCIIObject probe;
        unsigned int word = 0;
        memset(&probe, 0, sizeof(probe));
        probe.state.compact = 1;
        memcpy(&word, (char*)&probe + offsetof(PyASCIIObject, state), sizeof(word));
        SHOW("ascii_compact_bit", __builtin_ctz(word));
        memset(&probe, 0, sizeof(probe));
        probe.state.ascii = 1;
        memcpy(&word, (char*)&probe + offsetof(PyASCIIObject, state), sizeof(word));
        SHOW("ascii_ascii_bit", __builtin_ctz(word));
        memset(&probe, 0, sizeof(probe));
        probe.state.kind = 1;
        memcpy(&word, (char*)&probe + offsetof(PyASCIIObject, state), sizeof(word));
        SHOW("ascii_kind_bit", __builtin_ctz(word));
    }
    return 0;
}
