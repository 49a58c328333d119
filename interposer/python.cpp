// Python frames in native stacks. Where CPython's eval loop (_PyEval_EvalFrameDefault) is on a
// thread's native stack, the Python functions it is running take its place: file, function, line.
// They are read at each capture from the thread's own frame chain, with the struct offsets of the
// running CPython version (python_layouts.h): no hook inside the interpreter, nothing imported into
// the program, and the GIL is not needed (a thread's chain only changes while that thread runs
// Python, and it is the one capturing). Each distinct (code, line) gets a process-wide id, one PyFrame
// record, and appears in Stack records as the frame value wire::kPythonFrameTag | id.
#include "interposer/python_layouts.h"
#include "interposer/runtime.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <link.h>
#include <new>

namespace tidemark::interposer {

namespace {

using python::Layout;

struct Api {
    const Layout* layout = nullptr;
    void* (*threadState)() = nullptr; // PyGILState_GetThisThreadState: this thread's, GIL or not
    int (*addr2line)(void*, int) = nullptr; // PyCode_Addr2Line: pure, reads the line table only
    uintptr_t codeType = 0;    // &PyCode_Type
    uintptr_t unicodeType = 0; // &PyUnicode_Type
    uintptr_t evalLo = 0, evalHi = 0; // _PyEval_EvalFrameDefault's code
    uintptr_t interpLo = 0, interpHi = 0; // the module holding it (the interpreter's own code)
};
Api g_api;
bool g_enabled = false;

constexpr unsigned kMaxChain = 512; // Python frames read per capture (deeper ones are dropped)

template <typename T> inline T readAt(uintptr_t base, unsigned offset) noexcept
{
    T v;
    std::memcpy(&v, reinterpret_cast<const void*>(base + offset), sizeof(T));
    return v;
}

inline bool plausiblePointer(uintptr_t p) noexcept { return p >= 4096 && p < (uintptr_t(1) << 47) && (p & 7u) == 0; }

// ---- Process-wide registry: (code, line) -> id, each id's PyFrame record written once ----------

struct RegistrySlot {
    uintptr_t code; // 0 = empty
    uintptr_t name;
    uintptr_t file;
    int32_t line;
    uint32_t id;
};
constexpr uint32_t kRegistrySlots = 1u << 18; // at most half used; then no dedupe (ids still unique)
RegistrySlot* g_frameRegistry = nullptr;
uint32_t g_frameRegistryUsed = 0;
uint32_t g_nextFrameId = 1;
std::atomic<bool> g_lock { false };

// A str object's text as UTF-8 into out (at most cap bytes); 0 when it is not a compact str.
size_t readString(uintptr_t obj, char* out, size_t cap) noexcept
{
    const Layout& l = *g_api.layout;
    if (!plausiblePointer(obj) || readAt<uintptr_t>(obj, python::kObType) != g_api.unicodeType)
        return 0;
    uint32_t state = readAt<uint32_t>(obj, python::kStrState);
    int64_t length = readAt<int64_t>(obj, python::kStrLength);
    if (!((state >> python::kStrCompactBit) & 1u) || length < 0)
        return 0;
    if ((state >> python::kStrAsciiBit) & 1u) {
        size_t n = size_t(length) < cap ? size_t(length) : cap;
        std::memcpy(out, reinterpret_cast<const void*>(obj + l.asciiHeader), n);
        return n;
    }
    unsigned kind = (state >> python::kStrKindShift) & 7u; // bytes per code point: 1, 2 or 4
    if (kind != 1 && kind != 2 && kind != 4)
        return 0;
    auto data = reinterpret_cast<const uint8_t*>(obj + l.compactHeader);
    size_t n = 0;
    for (int64_t i = 0; i < length; ++i) {
        uint32_t c = kind == 1 ? data[i] : kind == 2 ? readAt<uint16_t>(uintptr_t(data), unsigned(i * 2)) : readAt<uint32_t>(uintptr_t(data), unsigned(i * 4));
        char buf[4];
        size_t k = 0;
        if (c < 0x80) {
            buf[k++] = char(c);
        } else if (c < 0x800) {
            buf[k++] = char(0xC0 | (c >> 6));
            buf[k++] = char(0x80 | (c & 0x3F));
        } else if (c < 0x10000) {
            buf[k++] = char(0xE0 | (c >> 12));
            buf[k++] = char(0x80 | ((c >> 6) & 0x3F));
            buf[k++] = char(0x80 | (c & 0x3F));
        } else {
            buf[k++] = char(0xF0 | ((c >> 18) & 0x07));
            buf[k++] = char(0x80 | ((c >> 12) & 0x3F));
            buf[k++] = char(0x80 | ((c >> 6) & 0x3F));
            buf[k++] = char(0x80 | (c & 0x3F));
        }
        if (n + k > cap)
            break;
        std::memcpy(out + n, buf, k);
        n += k;
    }
    return n;
}

uint32_t internPyString(uintptr_t obj, const char* fallback) noexcept
{
    char text[1024];
    size_t n = readString(obj, text, sizeof(text));
    return n ? internString(text, n) : internString(fallback);
}

void emitPyFrame(uint32_t id, uintptr_t code, int line) noexcept
{
    const Layout& l = *g_api.layout;
    wire::PyFrameRecord r {};
    r.h.kind = uint16_t(wire::Kind::PyFrame);
    r.h.size_bytes = uint16_t(sizeof(r));
    r.id = id;
    r.line = line;
    r.function_id = internPyString(readAt<uintptr_t>(code, l.codeName), "<unknown function>");
    r.file_id = internPyString(readAt<uintptr_t>(code, l.codeFilename), "<unknown file>");
    r.first_line = uint32_t(readAt<int32_t>(code, l.codeFirstLine));
    emit(&r, sizeof(r));
}

uint32_t registryId(uintptr_t code, uintptr_t name, uintptr_t file, int line) noexcept
{
    uint64_t h = (uint64_t(code) * 0x9E3779B97F4A7C15ull) ^ (uint64_t(uint32_t(line)) * 0xC2B2AE3D27D4EB4Full);
    uint32_t id = 0;
    {
        SpinGuard lock(g_lock);
        if (!g_frameRegistry)
            g_frameRegistry = static_cast<RegistrySlot*>(rawAlloc(kRegistrySlots * sizeof(RegistrySlot)));
        uint32_t i = uint32_t(h >> 40) & (kRegistrySlots - 1);
        while (g_frameRegistry && g_frameRegistry[i].code) {
            const RegistrySlot& s = g_frameRegistry[i];
            if (s.code == code && s.line == line && s.name == name && s.file == file)
                return s.id;
            i = (i + 1) & (kRegistrySlots - 1);
        }
        id = g_nextFrameId++;
        if (g_frameRegistry && g_frameRegistryUsed < kRegistrySlots / 2) {
            g_frameRegistry[i] = RegistrySlot { code, name, file, line, id };
            ++g_frameRegistryUsed;
        }
    }
    emitPyFrame(id, code, line);
    return id;
}

// ---- Per-thread state ----------------------------------------------------------------------

struct CodeSlot {
    uintptr_t code; // 0 = empty
    uintptr_t name; // the code's name object when cached (a new code at a freed one's address differs)
    int32_t offset; // byte offset of the instruction in the code
    uint32_t id;
};

} // namespace

struct PyThreadCache {
    static constexpr unsigned kSlots = 4096;
    CodeSlot slots[kSlots];
    // The chain of the last capture, innermost first: frame address, instruction word, and the
    // sequence it gave (ids, 0 = end of one eval loop's frames).
    unsigned chainN = 0;
    uintptr_t chainFrame[kMaxChain];
    uint64_t chainInstr[kMaxChain];
    uint16_t seqEnd[kMaxChain]; // seq's length after each frame
    unsigned seqN = 0;
    uint32_t seq[2 * kMaxChain];
    // The last Python stack looked up (its id) and the last one written (its frames, for the next
    // record's shared outer frames).
    uint32_t lastId = 0;
    uint32_t emittedId = 0;
    unsigned emittedN = 0;
    uint64_t emitted[wire::kMaxStackDepth];
};

namespace {

PyThreadCache* cacheOf(ThreadState* t) noexcept
{
    if (TIDEMARK_UNLIKELY(!t->py)) {
        void* mem = rawAlloc(sizeof(PyThreadCache));
        if (!mem)
            return nullptr;
        t->py = new (mem) PyThreadCache;
    }
    return t->py;
}

// The id of the Python frame running code at byte offset `offset`; 0 when code is not a code object.
uint32_t frameId(PyThreadCache* c, uintptr_t code, int32_t offset) noexcept
{
    const Layout& l = *g_api.layout;
    if (!plausiblePointer(code))
        return 0;
    uintptr_t name = readAt<uintptr_t>(code, l.codeName);
    CodeSlot& s = c->slots[((uint64_t(code) ^ uint64_t(uint32_t(offset)) * 0x9E3779B1u) * 0x9E3779B97F4A7C15ull) >> (64 - 12)];
    if (TIDEMARK_LIKELY(s.code == code && s.offset == offset && s.name == name))
        return s.id;
    if (readAt<uintptr_t>(code, python::kObType) != g_api.codeType)
        return 0;
    int line = g_api.addr2line(reinterpret_cast<void*>(code), offset);
    uint32_t id = registryId(code, name, readAt<uintptr_t>(code, l.codeFilename), line);
    s = CodeSlot { code, name, offset, id };
    return id;
}

// The innermost frame of tstate; 0 when there is none.
uintptr_t innermostFrame(uintptr_t tstate) noexcept
{
    const Layout& l = *g_api.layout;
    uintptr_t p = readAt<uintptr_t>(tstate, l.tstateFrame);
    if (l.cframeFrame >= 0) {
        if (!plausiblePointer(p))
            return 0;
        p = readAt<uintptr_t>(p, unsigned(l.cframeFrame));
    }
    return plausiblePointer(p) ? p : 0;
}

// Reads this thread's chain into c->seq; true when it is the chain of the last capture. Frames
// equal to the last capture's (same address, same instruction) keep their part of the sequence.
bool readChain(PyThreadCache* c, uintptr_t f) noexcept
{
    const Layout& l = *g_api.layout;
    bool same = true;
    unsigned n = 0, k = 0;
    for (; f && n < kMaxChain; ++n) {
        uint64_t instr = l.minor <= 10 ? uint64_t(uint32_t(readAt<int32_t>(f, l.frameInstr))) : readAt<uint64_t>(f, l.frameInstr);
        if (same && (n >= c->chainN || c->chainFrame[n] != f || c->chainInstr[n] != instr)) {
            same = false;
            k = n ? c->seqEnd[n - 1] : 0;
        }
        if (!same) {
            c->chainFrame[n] = f;
            c->chainInstr[n] = instr;
            if (l.ownerCStack >= 0 && readAt<int8_t>(f, unsigned(l.frameOwner)) == l.ownerCStack) {
                c->seq[k++] = 0; // the eval loop's shim frame: the frames above belong to an outer call
            } else {
                uintptr_t code = readAt<uintptr_t>(f, l.frameCode);
                int32_t offset = l.minor <= 10 ? int32_t(uint32_t(instr)) * int32_t(l.lastiScale)
                                               : int32_t(int64_t(instr) - int64_t(code + uint16_t(l.codeBytecode)));
                uint32_t id = frameId(c, code, offset);
                if (!id)
                    break; // not a frame as this layout knows them: keep what came before
                c->seq[k++] = id;
                if (l.minor <= 10 || (l.frameIsEntry >= 0 && readAt<uint8_t>(f, unsigned(l.frameIsEntry))))
                    c->seq[k++] = 0;
            }
            c->seqEnd[n] = uint16_t(k);
        }
        uintptr_t next = readAt<uintptr_t>(f, l.framePrevious);
        f = plausiblePointer(next) ? next : 0;
    }
    if (same) {
        if (n == c->chainN)
            return true;
        k = n ? c->seqEnd[n - 1] : 0; // the chain got shorter: a prefix of the last one
    }
    c->chainN = n;
    c->seqN = k;
    return false;
}

inline bool isEval(uint64_t ip) noexcept { return ip > g_api.evalLo && ip <= g_api.evalHi; }
inline bool inInterpreter(uint64_t ip) noexcept { return ip > g_api.interpLo && ip <= g_api.interpHi; }

int findInterpreter(dl_phdr_info* info, size_t, void* data) noexcept
{
    auto probe = *static_cast<uintptr_t*>(data);
    for (int i = 0; i < info->dlpi_phnum; ++i) {
        const ElfW(Phdr)& ph = info->dlpi_phdr[i];
        if (ph.p_type != PT_LOAD || !(ph.p_flags & PF_X))
            continue;
        uintptr_t lo = info->dlpi_addr + ph.p_vaddr;
        if (probe >= lo && probe < lo + ph.p_memsz) {
            g_api.interpLo = lo;
            g_api.interpHi = lo + ph.p_memsz;
            return 1;
        }
    }
    return 0;
}

} // namespace

// From the library constructor, after the unwinder: is this process a CPython we know?
void pythonDetect() noexcept
{
    const char* off = std::getenv("TIDEMARK_PYTHON");
    if (off && off[0] == '0')
        return;
    ReentryGuard guard;
    auto version = reinterpret_cast<const char* (*)()>(dlsym(RTLD_DEFAULT, "Py_GetVersion"));
    if (!version)
        return;
    const char* v = version();
    unsigned major = 0, minor = 0;
    if (!v || std::sscanf(v, "%u.%u", &major, &minor) != 2 || major != 3)
        return;
    char line[160];
    const Layout* layout = python::layoutFor(minor);
    if (!layout) {
        std::snprintf(line, sizeof(line), "Python %u.%u: no frame layout for this version; stacks show the interpreter's C frames only", major, minor);
        log(LogLevel::Warn, line);
        return;
    }
    void* eval = dlsym(RTLD_DEFAULT, "_PyEval_EvalFrameDefault");
    g_api.threadState = reinterpret_cast<void* (*)()>(dlsym(RTLD_DEFAULT, "PyGILState_GetThisThreadState"));
    g_api.addr2line = reinterpret_cast<int (*)(void*, int)>(dlsym(RTLD_DEFAULT, "PyCode_Addr2Line"));
    g_api.codeType = reinterpret_cast<uintptr_t>(dlsym(RTLD_DEFAULT, "PyCode_Type"));
    g_api.unicodeType = reinterpret_cast<uintptr_t>(dlsym(RTLD_DEFAULT, "PyUnicode_Type"));
    Dl_info info {};
    ElfW(Sym)* sym = nullptr;
    if (!eval || !g_api.threadState || !g_api.addr2line || !g_api.codeType || !g_api.unicodeType
        || !dladdr1(eval, &info, reinterpret_cast<void**>(&sym), RTLD_DL_SYMENT) || !sym || sym->st_size == 0) {
        std::snprintf(line, sizeof(line), "Python %u.%u: the interpreter's symbols are not all exported; no Python frames", major, minor);
        log(LogLevel::Warn, line);
        return;
    }
    g_api.evalLo = reinterpret_cast<uintptr_t>(eval);
    g_api.evalHi = g_api.evalLo + sym->st_size;
    uintptr_t probe = g_api.evalLo;
    dl_iterate_phdr(findInterpreter, &probe);
    g_api.layout = layout;
    g_enabled = true;
    std::snprintf(line, sizeof(line), "Python %u.%u: Python frames on", major, minor);
    log(LogLevel::Info, line);
}

bool pythonEnabled() noexcept { return g_enabled; }

// The stack with Python frames in place of the eval loop's, innermost first, into out (at most
// wire::kMaxStackDepth frames); 0 when native holds no eval frame or the thread runs no Python.
// *same: the stack is the last one this thread looked up (pythonLastId()).
unsigned pythonExpand(ThreadState* t, const uint64_t* native, unsigned n, bool nativeTruncated, bool nativeSame,
    uint64_t* out, bool* same) noexcept
{
    *same = false;
    unsigned evals = 0;
    for (unsigned i = 0; i < n; ++i)
        evals += isEval(native[i]);
    if (!evals)
        return 0;
    PyThreadCache* c = cacheOf(t);
    uintptr_t tstate = reinterpret_cast<uintptr_t>(g_api.threadState());
    if (!c || !plausiblePointer(tstate))
        return 0;
    bool chainSame = readChain(c, innermostFrame(tstate));
    if (nativeSame && chainSame && c->lastId) {
        *same = true;
        return 1;
    }
    // Native frames innermost first; each eval frame takes the next group of Python frames. The
    // interpreter's own frames between the innermost and the outermost eval frame are glue
    // (vectorcall, function calls) and go; native frames of extensions in between stay.
    unsigned k = 0, g = 0, seenEvals = 0;
    for (unsigned i = 0; i < n && k < wire::kMaxStackDepth; ++i) {
        uint64_t ip = native[i];
        if (isEval(ip)) {
            ++seenEvals;
            if (g < c->seqN) {
                for (; g < c->seqN && c->seq[g] != 0 && k < wire::kMaxStackDepth; ++g)
                    out[k++] = wire::kPythonFrameTag | c->seq[g];
                ++g; // past the group's end
                continue;
            }
        } else if (seenEvals && seenEvals < evals && inInterpreter(ip)) {
            continue;
        }
        out[k++] = ip;
    }
    // A native walk cut at the depth limit lost the outer eval frames, not the Python functions they
    // ran: those follow, outermost last, so the script's own frames survive a deep C++ library stack.
    if (nativeTruncated)
        for (; g < c->seqN && k < wire::kMaxStackDepth; ++g)
            if (c->seq[g] != 0)
                out[k++] = wire::kPythonFrameTag | c->seq[g];
    return k;
}

uint32_t pythonLastId(ThreadState* t) noexcept { return t->py ? t->py->lastId : 0; }

// Of a Python stack just looked up: its id, and when it is new the parent and shared outer frames
// for its record (the last Python stack this thread wrote).
void pythonRemember(ThreadState* t, uint32_t id) noexcept
{
    if (t->py)
        t->py->lastId = id;
}

uint32_t pythonParentFor(ThreadState* t, const uint64_t* frames, unsigned n, unsigned* shared) noexcept
{
    *shared = 0;
    PyThreadCache* c = t->py;
    if (!c || !c->emittedId)
        return 0;
    unsigned s = 0, m = c->emittedN;
    while (s < n && s < m && frames[n - 1 - s] == c->emitted[m - 1 - s])
        ++s;
    if (s == n)
        --s; // a record holds at least one frame of its own
    *shared = s;
    return s ? c->emittedId : 0;
}

void pythonEmitted(ThreadState* t, uint32_t id, const uint64_t* frames, unsigned n) noexcept
{
    PyThreadCache* c = t->py;
    if (!c)
        return;
    std::memcpy(c->emitted, frames, n * sizeof(uint64_t));
    c->emittedN = n;
    c->emittedId = id;
}

void pythonThreadFree(ThreadState* t) noexcept
{
    if (t->py)
        rawFree(t->py, sizeof(PyThreadCache));
    t->py = nullptr;
}

// Fork child: ids restart with the child's spool file; the registry may be locked by a thread
// that does not exist in the child.
void pythonReset() noexcept
{
    g_lock.store(false);
    if (g_frameRegistry)
        rawFree(g_frameRegistry, kRegistrySlots * sizeof(RegistrySlot));
    g_frameRegistry = nullptr;
    g_frameRegistryUsed = 0;
    g_nextFrameId = 1;
}

} // namespace tidemark::interposer
