// A module's function symbols (.symtab and .dynsym, of the file and of its separate debug file),
// sorted by address, so a pc's function is one binary search. libdwfl's own name lookup walks the
// whole symbol table per pc, which on a library with tens of thousands of symbols (libtorch_cpu)
// took most of the ingest of a PyTorch run.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

typedef struct Elf Elf;

namespace tidemark::collector {

class SymbolIndex {
public:
    // A symbol found at a pc: its mangled name and the addresses it covers, [start, end): its size,
    // or for a symbol without one, up to the next symbol or the end of its section.
    struct Hit {
        const char* name;
        uint64_t start, end;
    };

    // Adds the function symbols of elf's .symtab and .dynsym at st_value + bias. Call finish() once
    // every file was added (again after adding more).
    void addElf(Elf* elf, uint64_t bias);
    // Reads one file on its own. False if it is not a readable ELF file.
    bool addFile(const std::string& path, uint64_t bias = 0);
    void finish();

    // The symbol holding pc, or null. A pc past a sized symbol's end lies in no symbol, whatever
    // follows, so the hidden code of a stripped library is not named after the export before it.
    const Hit* find(uint64_t pc) const;
    // The demangled name of find(pc) (each symbol demangled once), or empty.
    const std::string& functionAt(uint64_t pc);

    size_t size() const { return m_hits.size(); }

private:
    struct Entry {
        uint64_t start, end, sectionEnd; // end == start: no size
        size_t name; // offset into m_names
        int rank; // of the symbols at one address, the highest names it
        size_t order; // then the first added
    };
    void addTable(Elf* elf, uint64_t bias, uint32_t sectionType);

    std::vector<Entry> m_entries; // as added
    std::vector<Hit> m_hits; // sorted by start, one per address
    std::vector<std::string> m_demangled; // parallel to m_hits, filled on first use
    std::vector<bool> m_isDemangled;
    std::string m_names;
};

// name demangled (C++ Itanium ABI), or name itself when it is not a mangled one; empty for null.
std::string demangle(const char* name);

} // namespace tidemark::collector
