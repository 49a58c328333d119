// Naming allocations: symbol chains of frames, full stacks of callsites, and "the site" of an
// allocation: the first frame, walking outward from the allocator, that is the user's code rather than
// allocator plumbing, a runtime module or a library layer (the rules are in site_names.h).
#include "analysis/site_names.h"
#include "analysis/internal.h"
#include "analysis/recording.h"
#include "trace/wire.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <regex>
#include <unordered_map>

namespace tidemark::analysis {

namespace {

    std::string baseName(const std::string& path)
    {
        auto slash = path.find_last_of('/');
        return slash == std::string::npos ? path : path.substr(slash + 1);
    }

    bool startsWith(std::string_view s, std::string_view prefix)
    {
        return s.substr(0, prefix.size()) == prefix;
    }

    bool endsWith(std::string_view s, std::string_view suffix)
    {
        return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
    }

    bool contains(std::string_view s, std::string_view part)
    {
        return s.find(part) != std::string_view::npos;
    }

    bool isIdentChar(char c)
    {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '$';
    }

    std::string lowered(std::string_view f)
    {
        std::string out(f);
        for (auto& ch : out)
            ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        return out;
    }

    // "operator" at i: copies the operator's name ("operator()", "operator new[]", "operator<<") so the
    // brackets in it are not taken for template arguments or parameters. Returns the index after it.
    size_t copyOperator(std::string_view f, size_t i, std::string& out)
    {
        constexpr std::string_view kOp = "operator";
        out += kOp;
        i += kOp.size();
        if (f.substr(i, 2) == "()")
            return out += "()", i + 2;
        if (i < f.size() && f[i] == ' ' && i + 1 < f.size() && isIdentChar(f[i + 1])) {
            size_t j = i + 1; // operator new, operator delete[], a conversion operator
            while (j < f.size() && isIdentChar(f[j]))
                ++j;
            out += f.substr(i, j - i);
            if (f.substr(j, 2) == "[]")
                return out += "[]", j + 2;
            return j;
        }
        static constexpr std::string_view kSymbols = "+-*/%^&|~!=<>,[]";
        while (i < f.size() && kSymbols.find(f[i]) != std::string_view::npos)
            out += f[i++];
        return i;
    }

} // namespace

std::string qualifiedName(std::string_view f)
{
    // Keep what is outside every <...>, (...) and [...]; then the last word (the return type and
    // trailing const/&/&& qualifiers are words of their own at that level).
    std::string flat;
    int depth = 0;
    for (size_t i = 0; i < f.size();) {
        char c = f[i];
        if (f.substr(i, 8) == "operator" && (i == 0 || !isIdentChar(f[i - 1]))
            && (i + 8 >= f.size() || !isIdentChar(f[i + 8]))) {
            std::string op;
            i = copyOperator(f, i, op);
            if (depth == 0)
                flat += op;
            continue;
        }
        if (c == '<' || c == '(' || c == '[')
            ++depth;
        else if ((c == '>' || c == ')' || c == ']') && depth > 0)
            --depth;
        else if (depth == 0)
            flat += c;
        ++i;
    }
    std::vector<std::string_view> words;
    std::string_view rest(flat);
    while (!rest.empty()) {
        size_t space = rest.find(' ');
        std::string_view w = rest.substr(0, space);
        // "operator new" and conversion operators are one word.
        if ((w == "operator" || endsWith(w, "::operator")) && space != std::string_view::npos) {
            size_t next = rest.find(' ', space + 1);
            w = rest.substr(0, next);
            space = next;
        }
        if (!w.empty() && w != "const" && w != "volatile" && w != "&" && w != "&&" && w != "noexcept")
            words.push_back(w);
        rest = space == std::string_view::npos ? std::string_view() : rest.substr(space + 1);
    }
    return words.empty() ? std::string(f) : std::string(words.back());
}

bool isAllocatorFunction(std::string_view f)
{
    static constexpr std::array<std::string_view, 16> kExact
        = { "malloc", "calloc", "realloc", "free", "posix_memalign", "aligned_alloc", "memalign", "valloc", "pvalloc",
              "reallocarray", "strdup", "strndup", "__strdup", "__strndup", "wcsdup", "gc_alloc" };
    static constexpr std::array<std::string_view, 24> kPrefixes
        = { "__libc_", "_int_malloc", "_int_realloc", "operator new", "operator delete", "_Znw", "_Zna", "_Zdl", "_Zda",
              "cudaMalloc", "cudaHostAlloc", "cudaFree", "cuMem", "nvtxMem", "tidemark::interposer", "__cxa_", "_dl_",
              "__GI_", "__nvtx", "cudart::", "PyMem_", "_PyMem_", "pymalloc_", "_PyObject_GC_" };
    std::string q = qualifiedName(f);
    std::string_view n(q);
    for (auto e : kExact)
        if (n == e || f == e)
            return true;
    for (auto p : kPrefixes)
        if (startsWith(n, p) || startsWith(f, p))
            return true;
    // CPython's object allocator: PyObject_Malloc/Calloc/Realloc/Free, _PyObject_*alloc*,
    // PyType_GenericAlloc, PyObject_GC_*.
    if (n == "PyObject_Malloc" || n == "PyObject_Calloc" || n == "PyObject_Realloc" || n == "PyObject_Free"
        || n == "PyType_GenericAlloc" || startsWith(n, "PyObject_GC_") || startsWith(n, "_PyType_Alloc")
        || (startsWith(n, "_PyObject_") && contains(lowered(n), "alloc")) || n == "_PyObject_New"
        || n == "_PyObject_NewVar")
        return true;
    // c10's CPU allocator (c10::alloc_cpu, c10::DefaultCPUAllocator::allocate, c10::*Allocator*).
    if (startsWith(n, "c10::alloc_cpu") || startsWith(n, "c10::free_cpu")
        || (startsWith(n, "c10::") && contains(n, "Allocator")) || contains(n, "MemoryReporter::"))
        return true;
    // Any class named *Allocator (caching allocators, tidemark-train's) and std::allocator templates.
    if (contains(n, "Allocator::") || contains(n, "allocator::") || contains(n, "allocator_traits"))
        return true;
    // std:: container and string internals: names reserved to the implementation (_M_realloc_insert,
    // __new_allocator, _Vector_base, __uninitialized_copy) in any component but the inline namespace.
    if (startsWith(n, "std::") || startsWith(n, "__gnu_cxx::")) {
        size_t pos = 0;
        while (pos < n.size()) {
            size_t end = n.find("::", pos);
            std::string_view part = n.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos);
            if (!part.empty() && part[0] == '_' && part != "__cxx11" && part != "__1")
                return true;
            if (contains(part, "allocator"))
                return true;
            if (end == std::string_view::npos)
                break;
            pos = end + 2;
        }
    }
    return false;
}

bool isRuntimeModule(std::string_view module)
{
    static constexpr std::array<std::string_view, 11> kModules = { "libtidemark", "libc.so", "libc-", "libstdc++.so",
        "libcudart", "libcuda.so", "ld-linux", "ld-2.", "ld.so", "libpthread", "libdl." };
    for (auto m : kModules)
        if (startsWith(module, m))
            return true;
    return false;
}

namespace {

    // User patterns of --skip-frames, compiled once; set before sites are named and only read afterwards.
    struct SkipPattern {
        std::regex regex;
        bool module = false;
    };
    std::vector<std::string> g_skipSources;
    std::vector<SkipPattern> g_skipPatterns;

    // Extra substrings from TIDEMARK_SITE_SKIP (comma-separated, the library tier), read once.
    const std::vector<std::string>& envSkips()
    {
        static const std::vector<std::string> skips = [] {
            std::vector<std::string> out;
            const char* env = std::getenv("TIDEMARK_SITE_SKIP");
            std::string v = env ? env : "";
            size_t start = 0;
            while (start < v.size()) {
                size_t end = v.find(',', start);
                if (end == std::string::npos)
                    end = v.size();
                if (end > start)
                    out.push_back(v.substr(start, end - start));
                start = end + 1;
            }
            return out;
        }();
        return skips;
    }

    // Library layers between the user's code and the allocator: named only when nothing else remains.
    bool isLibraryFunction(std::string_view f)
    {
        std::string q = qualifiedName(f);
        std::string_view n(q);
        for (std::string_view ns : { "std::", "__gnu_cxx::", "c10::", "at::", "torch::", "caffe2::", "pybind11::" })
            if (startsWith(n, ns))
                return true;
        // Thread and program entry points and the CPython interpreter's own C functions name no code of
        // the user (a program's main is named only when nothing else is).
        for (std::string_view entry : { "clone", "clone3", "__clone", "__clone3", "_start", "main" })
            if (n == entry)
                return true;
        for (std::string_view entry :
            { "execute_native_thread_routine", "start_thread", "__libc_start", "pthread_", "cfunction_call",
                "method_vectorcall", "slot_tp_", "_Py", "vectorcall", "pymain_", "run_mod", "run_eval_code_obj" })
            if (startsWith(n, entry))
                return true;
        if (n.size() > 2 && startsWith(n, "Py") && (std::isupper(static_cast<unsigned char>(n[2])) || n[2] == '_'))
            return true;
        std::string low = lowered(n);
        for (const char* word : { "nvtx", "annotat", "registerregion", "buffer::", "tensor::", "storage::" })
            if (low.find(word) != std::string::npos)
                return true;
        for (const auto& skip : envSkips())
            if (f.find(skip) != std::string_view::npos)
                return true;
        return false;
    }

    Status loadCallsites(trace::Db& db, RecordingCaches& c)
    {
        auto st = db.prepare("SELECT id, parent_id, frame_id FROM callsites");
        if (!st)
            return st.error();
        while (st->step())
            c.callsites.emplace(st->int64(0), std::make_pair(st->isNull(1) ? 0 : st->int64(1), st->int64(2)));
        c.callsitesLoaded = true;
        return st->status();
    }

    // The symbol chain of a frame, innermost first (the highest inline depth is the code that ran).
    const std::vector<Location>& frameChain(Recording& rec, int64_t frameId)
    {
        auto& c = rec.caches();
        if (auto it = c.frames.find(frameId); it != c.frames.end())
            return it->second;
        std::vector<Location> chain;
        std::string module;
        int64_t ip = 0;
        int64_t relPc = -1;
        bool python = false;
        if (auto st = rec.db().prepare("SELECT f.ip, f.rel_pc, m.path FROM frames f LEFT JOIN modules m ON m.id = "
                                       "f.module_id WHERE f.id = ?")) {
            st->bind(1, frameId);
            if (st->step()) {
                ip = st->int64(0);
                python = wire::isPythonFrame(static_cast<uint64_t>(ip));
                relPc = st->isNull(1) ? -1 : st->int64(1);
                module = st->isNull(2) ? std::string() : baseName(st->text(2));
            }
        }
        if (auto st = rec.db().prepare("SELECT inline_depth, function_id, file_id, line FROM symbols WHERE frame_id = "
                                       "? ORDER BY inline_depth DESC")) {
            st->bind(1, frameId);
            while (st->step()) {
                Location loc;
                loc.frameId = frameId;
                loc.module = module;
                loc.python = python;
                loc.inlined = st->int64(0) > 0;
                loc.function = st->isNull(1) ? std::string() : rec.stringAt(st->int64(1));
                loc.file = st->isNull(2) ? std::string() : rec.stringAt(st->int64(2));
                loc.line = st->isNull(3) ? 0 : st->int64(3);
                chain.push_back(std::move(loc));
            }
        }
        if (chain.empty() || chain.front().function.empty()) {
            Location loc;
            loc.frameId = frameId;
            loc.module = module;
            char buf[64];
            std::snprintf(buf, sizeof buf, "0x%" PRIx64, static_cast<uint64_t>(relPc >= 0 ? relPc : ip));
            loc.function = module.empty() ? std::string(buf) : module + "+" + buf;
            if (chain.empty())
                chain.push_back(loc);
            else
                chain.front().function = loc.function;
        }
        return c.frames.emplace(frameId, std::move(chain)).first->second;
    }

    Site makeSite(const Location& loc, int64_t callsiteId)
    {
        Site s;
        s.location = loc;
        s.label = loc.label();
        s.key = loc.module + "|" + loc.function + "|" + loc.file + ":" + std::to_string(loc.line);
        s.callsiteId = callsiteId;
        return s;
    }

    // A user's Python function that a library called back (an nn.Module's forward run by torch's
    // Module.__call__, a Dataset's __getitem__ by the DataLoader) is named with the user's line that
    // called into the library: the same forward run for training and for a leaking evaluation are
    // two sites, "Net.forward (train.py:10) <- <module> (train.py:19)".
    void addPythonCaller(
        Site& site, const std::vector<const Location*>& locs, const std::vector<FrameRole>& roles, size_t pick)
    {
        if (!locs[pick]->python || roles[pick] != FrameRole::User)
            return;
        bool throughLibrary = false; // native frames between are the interpreter's: only Python ones count
        for (size_t j = pick + 1; j < locs.size(); ++j) {
            if (!locs[j]->python)
                continue;
            if (roles[j] == FrameRole::Library)
                throughLibrary = true;
            if (roles[j] != FrameRole::User)
                continue;
            if (throughLibrary) {
                site.label += " <- " + locs[j]->label();
                site.key += "<-" + locs[j]->file + ":" + std::to_string(locs[j]->line);
            }
            return;
        }
    }

    // Roles are asked for every frame of every stack walked, and a few thousand distinct names make up
    // millions of frames: the rules' answers are kept per name (per thread; dropped when the user
    // patterns change).
    constexpr uint8_t kAllocBit = 1;
    constexpr uint8_t kLibraryBit = 2;
    constexpr uint8_t kUserSkipBit = 4;
    std::atomic<uint64_t> g_patternGeneration { 1 };

    struct RoleCache {
        uint64_t generation = 0;
        std::unordered_map<std::string, uint8_t> functions;
        std::unordered_map<std::string, bool> modules; // runtime module or a user "module:" pattern
    };

    RoleCache& roleCache()
    {
        thread_local RoleCache cache;
        uint64_t now = g_patternGeneration.load(std::memory_order_acquire);
        if (cache.generation != now) {
            cache.functions.clear();
            cache.modules.clear();
            cache.generation = now;
        }
        return cache;
    }

    uint8_t functionBits(const std::string& f)
    {
        auto& cache = roleCache().functions;
        if (auto it = cache.find(f); it != cache.end())
            return it->second;
        uint8_t bits = 0;
        if (isAllocatorFunction(f))
            bits |= kAllocBit;
        if (isLibraryFunction(f))
            bits |= kLibraryBit;
        for (const auto& p : g_skipPatterns)
            if (!p.module && std::regex_search(f, p.regex))
                bits |= kUserSkipBit;
        return cache.emplace(f, bits).first->second;
    }

    bool modulePlumbing(const std::string& module)
    {
        if (module.empty())
            return false;
        auto& cache = roleCache().modules;
        if (auto it = cache.find(module); it != cache.end())
            return it->second;
        bool skip = isRuntimeModule(module);
        for (const auto& p : g_skipPatterns)
            if (p.module && std::regex_search(module, p.regex))
                skip = true;
        return cache.emplace(module, skip).first->second;
    }

    // frameChain's label of a frame without a symbol: "module+0x…", or "0x…" outside every module.
    bool isUnsymbolized(const Location& loc)
    {
        if (loc.module.empty())
            return startsWith(loc.function, "0x");
        return loc.function.size() > loc.module.size() + 1 && startsWith(loc.function, loc.module)
            && startsWith(std::string_view(loc.function).substr(loc.module.size()), "+0x");
    }

    // The malloc family and operator new/delete themselves: named last of all, even among plumbing.
    bool isAllocatorEntry(const std::string& f)
    {
        std::string q = qualifiedName(f);
        for (std::string_view e : { "malloc", "calloc", "realloc", "free", "posix_memalign", "aligned_alloc",
                 "memalign", "valloc", "pvalloc", "reallocarray", "strdup", "strndup", "__strdup", "__strndup" })
            if (q == e)
                return true;
        for (std::string_view p : { "operator new", "operator delete", "_Znw", "_Zna", "_Zdl", "_Zda", "__libc_malloc",
                 "__libc_calloc", "__libc_realloc", "__libc_memalign" })
            if (startsWith(q, p))
                return true;
        return false;
    }

    // Every location of every frame from the leaf callsite outward (innermost first).
    std::vector<const Location*> locationsOf(Recording& rec, int64_t callsiteId)
    {
        auto& c = rec.caches();
        if (!c.callsitesLoaded)
            (void)loadCallsites(rec.db(), c);
        std::vector<const Location*> locs;
        int64_t id = callsiteId;
        for (int guard = 0; id != 0 && guard < 1024; ++guard) {
            auto it = c.callsites.find(id);
            if (it == c.callsites.end())
                break;
            for (const auto& loc : frameChain(rec, it->second.second))
                locs.push_back(&loc);
            id = it->second.first;
        }
        return locs;
    }

    // Index of the location the site is named after: the first user frame (a Python one first); else the first library
    // frame (a Python one first); else the first plumbing frame that is not the allocator itself
    // (libc's or ld.so's own start-up allocations); else the innermost. -1 for an empty stack.
    int pickSite(const std::vector<const Location*>& locs, std::vector<FrameRole>& roles)
    {
        roles.clear();
        for (const auto* l : locs)
            roles.push_back(frameRole(*l));
        // Where the user's code is Python, native code under it is the interpreter's and the
        // extensions' (torch, numpy), not the user's.
        for (size_t i = 0; i < locs.size(); ++i)
            if (roles[i] == FrameRole::User && locs[i]->python)
                return static_cast<int>(i);
        for (size_t i = 0; i < locs.size(); ++i)
            if (roles[i] == FrameRole::User)
                return static_cast<int>(i);
        // No user frame: a library's Python line (the call into torch, the standard library) tells
        // more than the C function under it.
        for (bool python : { true, false })
            for (size_t i = 0; i < locs.size(); ++i)
                if (roles[i] == FrameRole::Library && (!python || locs[i]->python))
                    return static_cast<int>(i);
        for (size_t i = 0; i < locs.size(); ++i)
            if (!isAllocatorEntry(locs[i]->function) && !(locs[i]->module.empty() && isUnsymbolized(*locs[i])))
                return static_cast<int>(i);
        return locs.empty() ? -1 : 0;
    }

    // A Python source file of the interpreter's standard library, of an installed package
    // (site-packages, dist-packages: torch, numpy, ...) or frozen into the interpreter
    // ("<frozen importlib._bootstrap>"): not the user's code.
    bool isPythonLibraryFile(std::string_view file)
    {
        if (startsWith(file, "<frozen "))
            return true;
        if (file.find("/site-packages/") != std::string_view::npos
            || file.find("/dist-packages/") != std::string_view::npos)
            return true;
        // The standard library: <prefix>/lib/python3.X/... (Debian's /usr/lib/python3.11, pyenv's, conda's).
        for (std::string_view lib : { "/lib/python3", "/lib64/python3", "/lib/python2" }) {
            size_t at = file.find(lib);
            if (at == std::string_view::npos)
                continue;
            size_t slash = file.find('/', at + lib.size());
            if (slash != std::string_view::npos)
                return true;
        }
        return false;
    }

    // Python frames: the user's code unless a library file; --skip-frames patterns see the function
    // name, and "module:" patterns the source file (a Python file is its module).
    FrameRole pythonRole(const Location& loc)
    {
        // tidemark's own hook (lib/tidemark/python) is capture machinery, like the allocator.
        for (std::string_view own : { "/tidemark/python/tidemark_torch.py", "/tidemark/python/sitecustomize.py" })
            if (endsWith(loc.file, own))
                return FrameRole::Plumbing;
        for (const auto& p : g_skipPatterns)
            if (std::regex_search(p.module ? loc.file : loc.function, p.regex))
                return FrameRole::Plumbing;
        for (const auto& skip : envSkips())
            if (loc.function.find(skip) != std::string::npos || loc.file.find(skip) != std::string::npos)
                return FrameRole::Library;
        return isPythonLibraryFile(loc.file) ? FrameRole::Library : FrameRole::User;
    }

    // Start-up code: static initializers, the loader running them or loading a library, the interpreter's
    // initialization and module imports.
    bool isStartupFunction(const Location& loc)
    {
        std::string q = qualifiedName(loc.function);
        for (std::string_view p : { "_GLOBAL__sub_I_", "__static_initialization_and_destruction", "_dl_init",
                 "_dl_start_user", "__libc_csu_init", "__libc_early_init", "dl_open_worker", "_dl_open", "dlopen",
                 "__dlopen", "Py_Initialize", "_Py_Initialize", "pyinit_", "pymain_init", "_PyRuntime_Initialize",
                 "init_interp_main", "PyImport_", "_PyImport_", "_imp_", "PyInit_", "PyModule_ExecDef" })
            if (startsWith(q, p))
                return true;
        // The loader's and libc's static call_init (initializers of the program and its libraries).
        return q == "call_init" && isRuntimeModule(loc.module);
    }
} // namespace

std::string Location::label() const
{
    if (file.empty())
        return function;
    std::string shortFile = baseName(file);
    return function + " (" + shortFile + (line > 0 ? ":" + std::to_string(line) : std::string()) + ")";
}

const char* frameRoleName(FrameRole role)
{
    switch (role) {
    case FrameRole::User:
        return "user";
    case FrameRole::Library:
        return "library";
    case FrameRole::Plumbing:
        return "plumbing";
    }
    return "user";
}

FrameRole frameRole(const Location& loc)
{
    if (loc.python)
        return pythonRole(loc);
    if (modulePlumbing(loc.module))
        return FrameRole::Plumbing;
    if (isUnsymbolized(loc)) // values read off the stack outside every module are no code at all
        return loc.module.empty() ? FrameRole::Plumbing : FrameRole::Library;
    uint8_t bits = functionBits(loc.function);
    if (bits & (kAllocBit | kUserSkipBit))
        return FrameRole::Plumbing;
    return (bits & kLibraryBit) ? FrameRole::Library : FrameRole::User;
}

Status setSkipFramePatterns(const std::vector<std::string>& patterns)
{
    std::vector<SkipPattern> compiled;
    for (const auto& p : patterns) {
        SkipPattern sp;
        std::string text = p;
        if (startsWith(text, "module:")) {
            sp.module = true;
            text = text.substr(7);
        }
        if (text.empty())
            return makeError(ErrorCode::Usage, "empty --skip-frames pattern '" + p + "'");
        try {
            sp.regex = std::regex(text, std::regex::ECMAScript | std::regex::optimize);
        } catch (const std::regex_error& e) {
            return makeError(ErrorCode::Usage, "bad --skip-frames pattern '" + p + "': " + e.what(),
                "patterns are ECMAScript regular expressions searched in function names ('module:' for module file "
                "names)");
        }
        compiled.push_back(std::move(sp));
    }
    g_skipPatterns = std::move(compiled);
    g_skipSources = patterns;
    g_patternGeneration.fetch_add(1, std::memory_order_acq_rel);
    return okStatus();
}

const std::vector<std::string>& skipFramePatterns()
{
    return g_skipSources;
}

const Site& Recording::siteOf(int64_t callsiteId)
{
    auto& c = *m_caches;
    if (auto it = c.sites.find(callsiteId); it != c.sites.end())
        return it->second;
    std::vector<const Location*> locs = locationsOf(*this, callsiteId);
    std::vector<FrameRole> roles;
    int pick = pickSite(locs, roles);
    Site site;
    if (pick < 0) {
        site.key = "(no stack)";
        site.label = "(no stack)";
        site.location.function = "(no stack)";
    } else {
        site = makeSite(*locs[static_cast<size_t>(pick)], callsiteId);
        addPythonCaller(site, locs, roles, static_cast<size_t>(pick));
    }
    site.callsiteId = callsiteId;
    return c.sites.emplace(callsiteId, std::move(site)).first->second;
}

Result<std::vector<SiteFrame>> siteStack(Recording& rec, int64_t callsiteId)
{
    auto& c = rec.caches();
    if (!c.callsitesLoaded)
        if (auto s = loadCallsites(rec.db(), c); !s)
            return s.error();
    if (callsiteId != 0 && !c.callsites.count(callsiteId))
        return makeError(ErrorCode::Corrupt, "callsite " + std::to_string(callsiteId) + " is missing");
    std::vector<const Location*> locs = locationsOf(rec, callsiteId);
    std::vector<FrameRole> roles;
    int pick = pickSite(locs, roles);
    std::vector<SiteFrame> out;
    for (size_t i = 0; i < locs.size(); ++i) {
        SiteFrame f;
        f.location = *locs[i];
        f.role = roles[i];
        f.isSite = static_cast<int>(i) == pick;
        f.skipped = static_cast<int>(i) < pick;
        out.push_back(std::move(f));
    }
    return out;
}

bool isStartupStack(Recording& rec, int64_t callsiteId, std::unordered_map<int64_t, uint8_t>& memo)
{
    auto& c = rec.caches();
    if (!c.callsitesLoaded)
        (void)loadCallsites(rec.db(), c);
    // A callsite's state is its parent's plus its own frame: kStartup once a start-up frame is on the
    // path; else how many times module code was run (PyEval_EvalCode: once for the main script, once
    // more for every import executing a module's code), capped, where two mean an import.
    constexpr uint8_t kStartup = 2;
    std::vector<int64_t> path;
    uint8_t state = 0;
    int64_t id = callsiteId;
    for (int guard = 0; id != 0 && guard < 1024; ++guard) {
        if (auto m = memo.find(id); m != memo.end()) {
            state = m->second;
            break;
        }
        auto it = c.callsites.find(id);
        if (it == c.callsites.end())
            break;
        path.push_back(id);
        id = it->second.first;
    }
    for (auto it = path.rbegin(); it != path.rend(); ++it) {
        for (const auto& loc : frameChain(rec, c.callsites[*it].second)) {
            if (state >= kStartup)
                break;
            if (isStartupFunction(loc) || (loc.python && startsWith(loc.file, "<frozen importlib")))
                state = kStartup;
            else if (qualifiedName(loc.function) == "PyEval_EvalCode")
                ++state;
        }
        memo[*it] = state;
    }
    return state >= kStartup;
}

Result<std::vector<Location>> Recording::stack(int64_t callsiteId)
{
    auto& c = *m_caches;
    if (!c.callsitesLoaded)
        if (auto s = loadCallsites(m_db, c); !s)
            return s.error();
    std::vector<int64_t> framesLeafFirst;
    int64_t id = callsiteId;
    for (int guard = 0; id != 0 && guard < 1024; ++guard) {
        auto it = c.callsites.find(id);
        if (it == c.callsites.end())
            return makeError(ErrorCode::Corrupt, "callsite " + std::to_string(id) + " is missing");
        framesLeafFirst.push_back(it->second.second);
        id = it->second.first;
    }
    std::vector<Location> out;
    for (auto it = framesLeafFirst.rbegin(); it != framesLeafFirst.rend(); ++it) {
        const auto& chain = frameChain(*this, *it);
        for (auto loc = chain.rbegin(); loc != chain.rend(); ++loc)
            out.push_back(*loc);
    }
    return out;
}

} // namespace tidemark::analysis
