// Symbolization: one Dwfl session per distinct module file, each distinct relative pc resolved once;
// the function from the module's own symbol index, file, line and the inline chain from the DWARF
// scopes at the pc (libdwfl) when the module has debug info.
#include "collector/symbolize.h"

#include "collector/interning.h"
#include "collector/row_writer.h"
#include "collector/symbol_index.h"

#include <algorithm>
#include <cstdlib>
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <iterator>
#include <map>
#include <tuple>
#include <unistd.h>
#include <vector>

namespace tidemark::collector {

namespace {

    struct SymbolRow {
        std::string function, file;
        int line = 0;
    };

    std::string dieName(Dwarf_Die* die)
    {
        Dwarf_Attribute attr;
        for (int at : { DW_AT_linkage_name, DW_AT_MIPS_linkage_name }) {
            if (dwarf_attr_integrate(die, at, &attr))
                if (const char* linkage = dwarf_formstring(&attr))
                    return demangle(linkage);
        }
        const char* name = dwarf_diename(die);
        if (!name && dwarf_attr_integrate(die, DW_AT_name, &attr))
            name = dwarf_formstring(&attr);
        return name ? name : "";
    }

    // The call site of an inlined function: the file and line in the function it was inlined into.
    std::pair<std::string, int> callSite(Dwarf_Die* cu, Dwarf_Die* inlined)
    {
        Dwarf_Attribute attr;
        Dwarf_Word file = 0, line = 0;
        std::string path;
        if (dwarf_attr(inlined, DW_AT_call_file, &attr) && dwarf_formudata(&attr, &file) == 0) {
            Dwarf_Files* files = nullptr;
            size_t count = 0;
            if (dwarf_getsrcfiles(cu, &files, &count) == 0 && file < count)
                if (const char* p = dwarf_filesrc(files, file, nullptr, nullptr))
                    path = p;
        }
        if (dwarf_attr(inlined, DW_AT_call_line, &attr))
            dwarf_formudata(&attr, &line);
        return { path, static_cast<int>(line) };
    }

    // The rows of a pc from its chain of DIEs (innermost first: inlined subroutines, then the
    // subprogram): outermost function first (inline_depth 0), then each function inlined into the
    // previous one; without a chain, the symbol table's name.
    std::vector<SymbolRow> rowsOf(
        Dwfl_Module* mod, SymbolIndex& index, Dwarf_Addr pc, Dwarf_Die* cu, std::vector<Dwarf_Die>& chain)
    {
        std::vector<SymbolRow> rows;
        std::string pcFile;
        int pcLine = 0;
        if (Dwfl_Line* line = dwfl_module_getsrc(mod, pc)) {
            if (const char* f = dwfl_lineinfo(line, nullptr, &pcLine, nullptr, nullptr, nullptr))
                pcFile = f;
        }
        if (chain.empty()) {
            const std::string& function = index.functionAt(pc);
            if (!function.empty() || !pcFile.empty())
                rows.push_back({ function, pcFile, pcLine });
        } else {
            for (size_t k = chain.size(); k-- > 0;) {
                SymbolRow row { dieName(&chain[k]), pcFile, pcLine };
                if (k > 0) // the next inner function was inlined here: its call site is this one's location
                    std::tie(row.file, row.line) = callSite(cu, &chain[k - 1]);
                rows.push_back(std::move(row));
            }
            if (rows[0].function.empty())
                rows[0].function = index.functionAt(pc);
        }
        return rows;
    }

    // One pc at a time (the reference, as eu-addr2line): walk outwards from the pc. At an inlined
    // call, libdw continues with the inlined function's abstract scopes, so restart from the
    // concrete DIE (dwarf_getscopes_die). Each call walks the compile unit's DIE tree.
    std::vector<SymbolRow> resolvePc(Dwfl_Module* mod, SymbolIndex& index, Dwarf_Addr pc)
    {
        Dwarf_Addr bias = 0;
        Dwarf_Die* cu = dwfl_module_addrdie(mod, pc, &bias);
        std::vector<Dwarf_Die> chain; // innermost first
        Dwarf_Die* scopes = nullptr;
        int n = cu ? dwarf_getscopes(cu, pc - bias, &scopes) : 0;
        for (int i = 0; i < n;) {
            int tag = dwarf_tag(&scopes[i]);
            if (tag == DW_TAG_subprogram) {
                chain.push_back(scopes[i]);
                break;
            }
            if (tag != DW_TAG_inlined_subroutine) {
                ++i;
                continue;
            }
            chain.push_back(scopes[i]);
            Dwarf_Die* outer = nullptr;
            int m = dwarf_getscopes_die(&chain.back(), &outer);
            free(scopes);
            scopes = outer;
            n = m;
            i = 1; // outer[0] is the inlined DIE itself
        }
        free(scopes);
        return rowsOf(mod, index, pc, cu, chain);
    }

    // The chains of many pcs of one compile unit in one walk of its DIE tree: a DIE with code
    // ranges is entered only when it holds one of the pcs, a DIE without (namespace, class) always.
    // A pc's chain is the subprogram and inlined subroutines nested around it, innermost first,
    // from the innermost subprogram (what resolvePc finds, one tree walk per pc).
    class CuScopes {
    public:
        CuScopes(std::vector<Dwarf_Addr> pcs) // CU-relative, sorted, distinct
            : m_pcs(std::move(pcs))
            , m_chains(m_pcs.size())
        {
        }

        void walk(Dwarf_Die* cu)
        {
            std::vector<size_t> all(m_pcs.size());
            for (size_t i = 0; i < all.size(); ++i)
                all[i] = i;
            visitChildren(cu, std::move(all));
        }

        // Innermost first.
        std::vector<Dwarf_Die> chainOf(size_t i) const
        {
            const std::vector<Dwarf_Die>& outerFirst = m_chains[i];
            size_t from = 0;
            for (size_t k = 0; k < outerFirst.size(); ++k)
                if (dwarf_tag(const_cast<Dwarf_Die*>(&outerFirst[k])) == DW_TAG_subprogram)
                    from = k;
            return { outerFirst.rbegin(), outerFirst.rend() - static_cast<std::ptrdiff_t>(from) };
        }

    private:
        // Returns the pcs found inside some child: as in dwarf_getscopes, the first DIE holding a
        // pc is the one followed (assembly units have alias subprograms over the same code).
        std::vector<size_t> visitChildren(Dwarf_Die* parent, std::vector<size_t> pcs)
        {
            std::vector<size_t> claimed;
            Dwarf_Die child;
            if (pcs.empty() || dwarf_child(parent, &child) != 0)
                return claimed;
            do {
                std::vector<size_t> found = visit(&child, pcs);
                if (found.empty())
                    continue;
                claimed.insert(claimed.end(), found.begin(), found.end());
                std::vector<size_t> left;
                std::set_difference(pcs.begin(), pcs.end(), found.begin(), found.end(), std::back_inserter(left));
                pcs = std::move(left);
            } while (!pcs.empty() && dwarf_siblingof(&child, &child) == 0);
            std::sort(claimed.begin(), claimed.end());
            return claimed;
        }

        // Returns the pcs the DIE holds (sorted).
        std::vector<size_t> visit(Dwarf_Die* die, const std::vector<size_t>& pcs)
        {
            if (!dwarf_hasattr(die, DW_AT_low_pc) && !dwarf_hasattr(die, DW_AT_ranges))
                return dwarf_haschildren(die) ? visitChildren(die, pcs) : std::vector<size_t> {};
            std::vector<size_t> inside;
            for (size_t i : pcs)
                if (dwarf_haspc(die, m_pcs[i]) == 1)
                    inside.push_back(i);
            if (inside.empty())
                return inside;
            const int tag = dwarf_tag(die);
            const bool scope = tag == DW_TAG_subprogram || tag == DW_TAG_inlined_subroutine;
            if (scope) {
                m_stack.push_back(*die);
                for (size_t i : inside)
                    m_chains[i] = m_stack;
            }
            if (dwarf_haschildren(die))
                visitChildren(die, inside);
            if (scope)
                m_stack.pop_back();
            return inside;
        }

        std::vector<Dwarf_Addr> m_pcs;
        std::vector<std::vector<Dwarf_Die>> m_chains; // per pc, outermost first
        std::vector<Dwarf_Die> m_stack;
    };

    // The rows of every pc of a module (pcs sorted and distinct), each compile unit's DIE tree
    // walked once for all its pcs.
    std::vector<std::vector<SymbolRow>> resolvePcs(
        Dwfl_Module* mod, SymbolIndex& index, const std::vector<Dwarf_Addr>& pcs)
    {
        struct Unit {
            Dwarf_Die die;
            Dwarf_Addr bias;
            std::vector<size_t> pcs; // indexes into `pcs`
        };
        std::map<Dwarf_Off, Unit> units;
        std::vector<std::vector<SymbolRow>> out(pcs.size());
        for (size_t i = 0; i < pcs.size(); ++i) {
            Dwarf_Addr bias = 0;
            Dwarf_Die* cu = dwfl_module_addrdie(mod, pcs[i], &bias);
            if (!cu) {
                std::vector<Dwarf_Die> none;
                out[i] = rowsOf(mod, index, pcs[i], nullptr, none);
                continue;
            }
            Unit& u = units.try_emplace(dwarf_dieoffset(cu), Unit { *cu, bias, {} }).first->second;
            u.pcs.push_back(i);
        }
        for (auto& [offset, u] : units) {
            std::vector<Dwarf_Addr> relative;
            for (size_t i : u.pcs)
                relative.push_back(pcs[i] - u.bias);
            CuScopes scopes(relative);
            scopes.walk(&u.die);
            for (size_t k = 0; k < u.pcs.size(); ++k) {
                std::vector<Dwarf_Die> chain = scopes.chainOf(k);
                out[u.pcs[k]] = rowsOf(mod, index, pcs[u.pcs[k]], &u.die, chain);
            }
        }
        return out;
    }

    std::vector<std::vector<SymbolRow>> resolveEach(
        Dwfl_Module* mod, SymbolIndex& index, const std::vector<Dwarf_Addr>& pcs)
    {
        std::vector<std::vector<SymbolRow>> out;
        for (Dwarf_Addr pc : pcs)
            out.push_back(resolvePc(mod, index, pc));
        return out;
    }

    // A module without debug info: the symbol index's name is all there is.
    std::vector<std::vector<SymbolRow>> resolveNames(SymbolIndex& index, const std::vector<Dwarf_Addr>& pcs)
    {
        std::vector<std::vector<SymbolRow>> out(pcs.size());
        for (size_t i = 0; i < pcs.size(); ++i)
            if (const std::string& function = index.functionAt(pcs[i]); !function.empty())
                out[i].push_back({ function, {}, 0 });
        return out;
    }

    std::string buildIdHex(Dwfl_Module* mod)
    {
        const unsigned char* bits = nullptr;
        GElf_Addr vaddr = 0;
        int len = dwfl_module_build_id(mod, &bits, &vaddr);
        return len > 0 ? hexBytes(bits, static_cast<size_t>(len)) : std::string();
    }

    Result<std::vector<FrameToSymbolize>> loadFrames(trace::Db& db)
    {
        auto stmt = db.prepare("SELECT f.id, f.rel_pc, m.path, coalesce(m.build_id, '') FROM frames f "
                               "JOIN modules m ON m.id = f.module_id WHERE f.rel_pc IS NOT NULL "
                               "AND f.id NOT IN (SELECT frame_id FROM symbols) ORDER BY m.path, m.build_id, f.rel_pc");
        if (!stmt)
            return stmt.error();
        std::vector<FrameToSymbolize> frames;
        while (stmt->step())
            frames.push_back({ stmt->int64(0), static_cast<uint64_t>(stmt->int64(1)), stmt->text(2), stmt->text(3) });
        if (!stmt->status())
            return stmt->status().error();
        return frames;
    }

} // namespace

Result<SymbolizeReport> symbolize(trace::Db& db, const Progress& progress)
{
    auto frames = loadFrames(db);
    if (!frames)
        return frames.error();
    StringTable strings;
    if (auto s = strings.load(db); !s)
        return s.error();
    RowWriter out(db);
    if (auto s = out.begin(); !s)
        return s.error();
    Resolution r = resolveFrames(std::move(*frames), progress);
    writeSymbols(r, out, strings);
    if (auto s = out.finish(); !s)
        return s.error();
    return r.report;
}

void writeSymbols(const Resolution& resolution, RowWriter& out, StringTable& strings)
{
    for (const ResolvedSymbol& r : resolution.symbols)
        out.tableRow(out.symbols,
            trace::SymbolRow { .frame_id = r.frame,
                .inline_depth = r.depth,
                .function_id = idOrNull(r.function.empty() ? 0 : strings.intern(r.function, out)),
                .file_id = idOrNull(r.file.empty() ? 0 : strings.intern(r.file, out)),
                .line = r.line > 0 ? std::optional<int64_t>(r.line) : std::nullopt });
}

// One module file, opened once: libdw reads (and inflates, when compressed) its debug sections on
// first use, which for a libc with separate debug info costs more than all its lookups.
struct SymbolResolver::Module {
    Dwfl* dwfl = nullptr;
    Dwfl_Module* mod = nullptr; // null: missing, unreadable or replaced
    bool missing = false, mismatch = false;
    bool hasDwarf = false; // of its own or in a separate debug file
    SymbolIndex index; // the file's symbols and its debug file's
    uint64_t lastUse = 0;

    Module() = default;
    Module(const Module&) = delete;
    Module& operator=(const Module&) = delete;
    ~Module()
    {
        if (dwfl)
            dwfl_end(dwfl);
    }
};

// libdwfl keeps a pointer to the debuginfo_path string: it lives here, beside the callbacks.
struct SymbolResolver::Callbacks {
    std::string path;
    char* pathPtr = nullptr; // null: libdwfl's default
    Dwfl_Callbacks dwfl { dwfl_build_id_find_elf, dwfl_standard_find_debuginfo, dwfl_offline_section_address,
        &pathPtr };
};

SymbolResolver::SymbolResolver()
    : m_callbacks(std::make_unique<Callbacks>())
{
}
SymbolResolver::~SymbolResolver() = default;

void SymbolResolver::setDebugPath(std::string path)
{
    m_callbacks->path = std::move(path);
    m_callbacks->pathPtr = m_callbacks->path.data();
}

// The symbols of the module's file and, when libdwfl finds one (by build-id under the debug
// directories, then by .gnu_debuglink), of its separate debug file, whose .symtab names the local
// functions a stripped file lost. Looking for the debug file is what loads the DWARF, once.
void SymbolResolver::indexSymbols(Module& m)
{
    GElf_Addr bias = 0;
    Elf* elf = dwfl_module_getelf(m.mod, &bias);
    m.index.addElf(elf, bias);
    Dwarf_Addr debugBias = 0;
    if (Dwarf* dwarf = dwfl_module_getdwarf(m.mod, &debugBias)) {
        m.hasDwarf = true;
        if (Elf* debugElf = dwarf_getelf(dwarf); debugElf && debugElf != elf)
            m.index.addElf(debugElf, debugBias);
    }
    m.index.finish();
}

SymbolResolver::Module& SymbolResolver::open(const std::string& path, const std::string& buildId)
{
    auto key = std::make_pair(path, buildId);
    auto it = m_modules.find(key);
    if (it == m_modules.end()) {
        if (m_modules.size() >= kMaxOpenModules) { // bounded memory: the least recently used goes
            auto oldest = std::min_element(m_modules.begin(), m_modules.end(),
                [](const auto& a, const auto& b) { return a.second->lastUse < b.second->lastUse; });
            m_modules.erase(oldest);
        }
        auto m = std::make_unique<Module>();
        ++m_opened;
        m->dwfl = dwfl_begin(&m_callbacks->dwfl);
        // Pseudo modules ([vdso], linux-vdso.so.1) have no file to read.
        if (m->dwfl && !path.empty() && path[0] == '/' && ::access(path.c_str(), R_OK) == 0) {
            dwfl_report_begin(m->dwfl);
            // base 0 with p_vaddr added: dwfl addresses are the file's own vaddrs, which is what rel_pc is.
            m->mod = dwfl_report_elf(m->dwfl, path.c_str(), path.c_str(), -1, 0, true);
            dwfl_report_end(m->dwfl, nullptr, nullptr);
        }
        if (!m->mod) {
            m->missing = true;
        } else if (!buildId.empty() && buildIdHex(m->mod) != buildId) {
            m->mismatch = true; // the file was replaced after the run: its symbols would lie
            m->mod = nullptr;
        } else {
            indexSymbols(*m);
        }
        it = m_modules.emplace(std::move(key), std::move(m)).first;
    }
    it->second->lastUse = ++m_uses;
    return *it->second;
}

Resolution SymbolResolver::resolve(std::vector<FrameToSymbolize> frames, const Progress& progress)
{
    // Grouped by module file; equal pcs next to each other, resolved once.
    std::sort(frames.begin(), frames.end(), [](const FrameToSymbolize& a, const FrameToSymbolize& b) {
        return std::tie(a.path, a.build_id, a.rel_pc) < std::tie(b.path, b.build_id, b.rel_pc);
    });
    Resolution out;
    SymbolizeReport& report = out.report;
    report.frames = frames.size();
    size_t i = 0;
    while (i < frames.size()) {
        size_t groupEnd = i;
        while (groupEnd < frames.size() && frames[groupEnd].path == frames[i].path
            && frames[groupEnd].build_id == frames[i].build_id)
            ++groupEnd;
        Module& module = open(frames[i].path, frames[i].build_id);
        ++report.module_files;
        report.missing_modules += module.missing;
        report.build_id_mismatch += module.mismatch;
        // Frames are return addresses: look up the call instruction, one byte before. Equal pcs are
        // next to each other (sorted).
        auto pcOf = [&](size_t j) -> Dwarf_Addr { return frames[j].rel_pc ? frames[j].rel_pc - 1 : 0; };
        std::vector<Dwarf_Addr> pcs;
        for (size_t j = i; module.mod && j < groupEnd; ++j)
            if (pcs.empty() || pcs.back() != pcOf(j))
                pcs.push_back(pcOf(j));
        std::vector<std::vector<SymbolRow>> resolvedPcs;
        if (module.mod && !module.hasDwarf)
            resolvedPcs = resolveNames(module.index, pcs);
        else if (module.mod)
            resolvedPcs = m_onePcAtATime ? resolveEach(module.mod, module.index, pcs)
                                         : resolvePcs(module.mod, module.index, pcs);
        size_t at = 0;
        for (size_t j = i; module.mod && j < groupEnd; ++j) {
            const FrameToSymbolize& f = frames[j];
            if (j > i && pcOf(j) != pcOf(j - 1))
                ++at;
            const std::vector<SymbolRow>& rows = resolvedPcs[at];
            if (!rows.empty() && !rows[0].function.empty())
                ++report.resolved;
            if (!rows.empty() && !rows.back().file.empty())
                ++report.with_line;
            for (size_t d = 0; d < rows.size(); ++d)
                out.symbols.push_back({ f.id, static_cast<int64_t>(d), rows[d].function, rows[d].file, rows[d].line });
        }
        i = groupEnd;
        if (progress)
            progress("symbolizing", static_cast<double>(i) / static_cast<double>(frames.size()));
    }
    return out;
}

Resolution resolveFrames(std::vector<FrameToSymbolize> frames, const Progress& progress)
{
    return SymbolResolver().resolve(std::move(frames), progress);
}

} // namespace tidemark::collector
