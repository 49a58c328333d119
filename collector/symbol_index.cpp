// The per-module symbol index: function symbols read once from the ELF symbol tables, merged, one
// per address, and looked up by binary search.
#include "collector/symbol_index.h"

#include <algorithm>
#include <cstdlib>
#include <cxxabi.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <unistd.h>

namespace tidemark::collector {

std::string demangle(const char* name)
{
    if (!name)
        return {};
    int status = 0;
    char* out = abi::__cxa_demangle(name, nullptr, nullptr, &status);
    if (status != 0 || !out)
        return name;
    std::string s(out);
    std::free(out);
    return s;
}

namespace {

    // How well a symbol names its address when several share it: one with a size, then by binding
    // (global before weak before local, as libdwfl ranks them), then a function before an ifunc
    // resolver before an untyped label.
    int rankOf(const GElf_Sym& sym)
    {
        int binding = 0;
        switch (GELF_ST_BIND(sym.st_info)) {
        case STB_GLOBAL:
            binding = 3;
            break;
        case STB_GNU_UNIQUE:
            binding = 2;
            break;
        case STB_WEAK:
            binding = 1;
            break;
        default:
            break;
        }
        int type = 0;
        switch (GELF_ST_TYPE(sym.st_info)) {
        case STT_FUNC:
            type = 2;
            break;
        case STT_GNU_IFUNC:
            type = 1;
            break;
        default:
            break;
        }
        return (sym.st_size > 0 ? 100 : 0) + binding * 10 + type;
    }

    // At most this many symbols before a pc are looked at for one whose extent still covers it (a
    // function with a sized local label inside it); beyond that the pc is taken as in no symbol.
    constexpr size_t kScanBack = 16;

} // namespace

void SymbolIndex::addTable(Elf* elf, uint64_t bias, uint32_t sectionType)
{
    Elf_Scn* scn = nullptr;
    while ((scn = elf_nextscn(elf, scn)) != nullptr) {
        GElf_Shdr shdr;
        if (!gelf_getshdr(scn, &shdr) || shdr.sh_type != sectionType || shdr.sh_entsize == 0)
            continue;
        // A debug file's symbol table is SHT_SYMTAB like any other; one stripped of it keeps the
        // section header as NOBITS, with no data to read.
        Elf_Data* data = elf_getdata(scn, nullptr);
        if (!data || !data->d_buf)
            continue;
        Elf_Data* shndxData = nullptr; // SHT_SYMTAB_SHNDX, for files with more than 64 K sections
        for (Elf_Scn* x = nullptr; (x = elf_nextscn(elf, x)) != nullptr;) {
            GElf_Shdr xh;
            if (gelf_getshdr(x, &xh) && xh.sh_type == SHT_SYMTAB_SHNDX && xh.sh_link == elf_ndxscn(scn))
                shndxData = elf_getdata(x, nullptr);
        }
        const size_t count = shdr.sh_size / shdr.sh_entsize;
        for (size_t i = 1; i < count; ++i) {
            GElf_Sym sym;
            Elf32_Word xndx = 0;
            if (!gelf_getsymshndx(data, shndxData, static_cast<int>(i), &sym, &xndx))
                continue;
            const int type = GELF_ST_TYPE(sym.st_info);
            if (type != STT_FUNC && type != STT_GNU_IFUNC && !(type == STT_NOTYPE && sym.st_size > 0))
                continue;
            size_t shndx = sym.st_shndx == SHN_XINDEX ? xndx : sym.st_shndx;
            if (shndx == SHN_UNDEF || (shndx >= SHN_LORESERVE && sym.st_shndx != SHN_XINDEX) || sym.st_value == 0)
                continue;
            GElf_Shdr home;
            Elf_Scn* homeScn = elf_getscn(elf, shndx);
            if (!homeScn || !gelf_getshdr(homeScn, &home))
                continue;
            // An untyped symbol names code only in code (not a data or section-boundary label).
            if (type == STT_NOTYPE && !(home.sh_flags & SHF_EXECINSTR))
                continue;
            const char* name = elf_strptr(elf, shdr.sh_link, sym.st_name);
            if (!name || !*name)
                continue;
            const uint64_t start = sym.st_value + bias;
            m_entries.push_back({ start, start + sym.st_size, home.sh_addr + home.sh_size + bias, m_names.size(),
                rankOf(sym), m_entries.size() });
            m_names.append(name);
            m_names.push_back('\0');
        }
    }
}

void SymbolIndex::addElf(Elf* elf, uint64_t bias)
{
    if (!elf || elf_kind(elf) != ELF_K_ELF)
        return;
    addTable(elf, bias, SHT_SYMTAB);
    addTable(elf, bias, SHT_DYNSYM);
}

bool SymbolIndex::addFile(const std::string& path, uint64_t bias)
{
    elf_version(EV_CURRENT);
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    Elf* elf = elf_begin(fd, ELF_C_READ_MMAP, nullptr);
    const bool ok = elf && elf_kind(elf) == ELF_K_ELF;
    if (ok)
        addElf(elf, bias);
    if (elf)
        elf_end(elf);
    ::close(fd);
    return ok;
}

void SymbolIndex::finish()
{
    std::vector<Entry> sorted = m_entries;
    std::sort(sorted.begin(), sorted.end(), [](const Entry& a, const Entry& b) {
        if (a.start != b.start)
            return a.start < b.start;
        if (a.rank != b.rank)
            return a.rank > b.rank;
        return a.order < b.order;
    });
    m_hits.clear();
    std::vector<bool> sized;
    for (const Entry& e : sorted) {
        if (!m_hits.empty() && m_hits.back().start == e.start)
            continue; // the best of this address came first
        m_hits.push_back({ m_names.c_str() + e.name, e.start, e.end > e.start ? e.end : e.sectionEnd });
        sized.push_back(e.end > e.start);
    }
    // A symbol without size reaches the next symbol at most (it already stops at its section's end).
    for (size_t i = 0; i + 1 < m_hits.size(); ++i)
        if (!sized[i])
            m_hits[i].end = std::min(m_hits[i].end, m_hits[i + 1].start);
    m_demangled.assign(m_hits.size(), std::string());
    m_isDemangled.assign(m_hits.size(), false);
}

const SymbolIndex::Hit* SymbolIndex::find(uint64_t pc) const
{
    auto after = std::upper_bound(
        m_hits.begin(), m_hits.end(), pc, [](uint64_t value, const Hit& h) { return value < h.start; });
    for (size_t looked = 0; after != m_hits.begin() && looked < kScanBack; ++looked) {
        --after;
        if (pc < after->end)
            return &*after;
    }
    return nullptr;
}

const std::string& SymbolIndex::functionAt(uint64_t pc)
{
    static const std::string kNone;
    const Hit* hit = find(pc);
    if (!hit)
        return kNone;
    const size_t i = static_cast<size_t>(hit - m_hits.data());
    if (!m_isDemangled[i]) {
        m_demangled[i] = demangle(hit->name);
        m_isDemangled[i] = true;
    }
    return m_demangled[i];
}

} // namespace tidemark::collector
