// Naming allocations: symbol chains of frames, full stacks of callsites, and "the site" of an
// allocation (the first frame outside the allocator, the interposer, libc and libstdc++).
#include "analysis/internal.h"
#include "analysis/recording.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cinttypes>
#include <cstdlib>
#include <cstdio>

namespace tidemark::analysis {

namespace {

std::string baseName(const std::string& path)
{
    auto slash = path.find_last_of('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

bool startsWith(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

// Frames that are memory plumbing rather than the code that wanted the memory.
bool isAllocatorFunction(std::string_view f)
{
    static constexpr std::array<std::string_view, 10> kExact = { "malloc", "calloc", "realloc", "free",
        "posix_memalign", "aligned_alloc", "memalign", "valloc", "pvalloc", "reallocarray" };
    static constexpr std::array<std::string_view, 19> kPrefixes = { "__libc_", "_int_malloc", "operator new",
        "operator delete", "_Znw", "_Zna", "_Zdl", "_Zda", "cudaMalloc", "cudaHostAlloc", "cudaFree", "cuMem", "nvtxMem",
        "tidemark::interposer", "__cxa_", "_dl_", "__GI_", "__nvtx", "cudart::" };
    for (auto e : kExact)
        if (f == e)
            return true;
    for (auto p : kPrefixes)
        if (startsWith(f, p))
            return true;
    // Caching allocators (PyTorch's, tidemark-train's) and allocator templates.
    return f.find("Allocator::") != std::string_view::npos || f.find("allocator<") != std::string_view::npos
        || f.find("allocator_traits") != std::string_view::npos;
}

bool isRuntimeModule(std::string_view module)
{
    static constexpr std::array<std::string_view, 7> kModules = { "libtidemark.so", "libc.so", "libc-", "libstdc++.so",
        "libcudart", "libcuda.so", "ld-linux" };
    for (auto m : kModules)
        if (startsWith(module, m))
            return true;
    return false;
}

std::string lowered(std::string_view f)
{
    std::string out(f);
    for (auto& ch : out)
        ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    return out;
}

// Extra substrings from TIDEMARK_SITE_SKIP (comma-separated), read once.
const std::vector<std::string>& userSkips()
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

// Second tier: library templates, NVTX annotation wrappers and tensor/buffer storage classes. The
// site is past them when the stack has any other frame (else they name it rather than malloc).
bool isLibraryTemplate(std::string_view f)
{
    if (startsWith(f, "std::") || startsWith(f, "__gnu_cxx::"))
        return true;
    // Thread entry points and the CPython interpreter's own C functions name no code of the user.
    for (std::string_view entry : { "execute_native_thread_routine", "start_thread", "clone", "__libc_start",
             "_start", "pthread_", "cfunction_call", "method_vectorcall", "slot_tp_", "_Py", "vectorcall" })
        if (startsWith(f, entry))
            return true;
    if (f.size() > 2 && startsWith(f, "Py") && (std::isupper(static_cast<unsigned char>(f[2])) || f[2] == '_'))
        return true;
    // PyTorch's C++ layers: the site is the Python or model code above them.
    if (startsWith(f, "c10::") || startsWith(f, "at::") || f.find(" at::") != std::string_view::npos
        || f.find("torch::") != std::string_view::npos || f.find(" c10::") != std::string_view::npos)
        return true;
    std::string low = lowered(f);
    for (const char* word : { "nvtx", "annotat", "registerregion", "buffer::", "tensor::", "storage::" })
        if (low.find(word) != std::string::npos)
            return true;
    for (const auto& skip : userSkips())
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
    if (auto st = rec.db().prepare(
            "SELECT f.ip, f.rel_pc, m.path FROM frames f LEFT JOIN modules m ON m.id = f.module_id WHERE f.id = ?")) {
        st->bind(1, frameId);
        if (st->step()) {
            ip = st->int64(0);
            relPc = st->isNull(1) ? -1 : st->int64(1);
            module = st->isNull(2) ? std::string() : baseName(st->text(2));
        }
    }
    if (auto st = rec.db().prepare(
            "SELECT inline_depth, function_id, file_id, line FROM symbols WHERE frame_id = ? ORDER BY inline_depth DESC")) {
        st->bind(1, frameId);
        while (st->step()) {
            Location loc;
            loc.frameId = frameId;
            loc.module = module;
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

} // namespace

std::string Location::label() const
{
    if (file.empty())
        return function;
    std::string shortFile = baseName(file);
    return function + " (" + shortFile + (line > 0 ? ":" + std::to_string(line) : std::string()) + ")";
}

const Site& Recording::siteOf(int64_t callsiteId)
{
    auto& c = *m_caches;
    if (auto it = c.sites.find(callsiteId); it != c.sites.end())
        return it->second;
    if (!c.callsitesLoaded)
        (void)loadCallsites(m_db, c);
    // Innermost first: every location of every frame from the leaf up.
    std::vector<const Location*> locs;
    int64_t id = callsiteId;
    for (int guard = 0; id != 0 && guard < 1024; ++guard) {
        auto it = c.callsites.find(id);
        if (it == c.callsites.end())
            break;
        for (const auto& loc : frameChain(*this, it->second.second))
            locs.push_back(&loc);
        id = it->second.first;
    }
    Site site;
    if (locs.empty()) {
        site.key = "(no stack)";
        site.label = "(no stack)";
        site.location.function = "(no stack)";
    } else {
        auto plumbing = [](const Location* l) {
            return isAllocatorFunction(l->function) || isRuntimeModule(l->module);
        };
        const Location* pick = nullptr;
        for (auto* l : locs)
            if (!plumbing(l) && !isLibraryTemplate(l->function)) {
                pick = l;
                break;
            }
        if (!pick)
            for (auto* l : locs)
                if (!plumbing(l)) {
                    pick = l;
                    break;
                }
        site = makeSite(pick ? *pick : *locs.front(), callsiteId);
    }
    site.callsiteId = callsiteId;
    return c.sites.emplace(callsiteId, std::move(site)).first->second;
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
