// Offline symbolization after ingest: each distinct frame's function (demangled; from the module's
// .symtab/.dynsym and its separate debug file's), file and line with the chain of inlined functions
// (DWARF, elfutils libdwfl), written to `symbols`. Frames in no symbol, and modules that are missing
// or replaced (build-id differs), keep module + offset and never fail the run.
#pragma once

#include "collector/ingest.h"
#include "trace/result.h"
#include "trace/sqlite.h"

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace tidemark::collector {

struct SymbolizeReport {
    uint64_t frames = 0; // frames with a module
    uint64_t resolved = 0; // frames that got at least a function name
    uint64_t with_line = 0; // ... and a file and line
    uint64_t module_files = 0; // distinct module files opened
    uint64_t missing_modules = 0; // module file absent or unreadable
    uint64_t build_id_mismatch = 0;
};

// Every frame of db without symbols yet.
Result<SymbolizeReport> symbolize(trace::Db& db, const Progress& progress = {});

class RowWriter;
class StringTable;

struct FrameToSymbolize {
    int64_t id;
    uint64_t rel_pc;
    std::string path, build_id; // of its module file
};
// Symbolization of given frames in two halves, so the slow one can run on a thread of its own (the
// ingest resolves the frames seen while the program ran as it pairs the rest): resolveFrames reads
// the module files and touches nothing shared; writeSymbols writes what it found through `out`.
struct ResolvedSymbol {
    int64_t frame;
    int64_t depth; // 0 = the outermost function, then the ones inlined into it
    std::string function, file;
    int line;
};
struct Resolution {
    SymbolizeReport report;
    std::vector<ResolvedSymbol> symbols;
};
Resolution resolveFrames(std::vector<FrameToSymbolize> frames, const Progress& progress = {});

// resolveFrames over several rounds: each module file stays open (up to kMaxOpenModules, the least
// recently used closed first), so a later round's frames of a module already read cost only their
// lookups. One thread at a time.
class SymbolResolver {
public:
    static constexpr size_t kMaxOpenModules = 32;
    SymbolResolver();
    ~SymbolResolver();
    SymbolResolver(const SymbolResolver&) = delete;
    SymbolResolver& operator=(const SymbolResolver&) = delete;
    Resolution resolve(std::vector<FrameToSymbolize> frames, const Progress& progress = {});
    // Module files opened so far, a file read again after being closed counted again.
    uint64_t filesOpened() const { return m_opened; }
    // Looks up each pc on its own (dwarf_getscopes, as eu-addr2line: a walk of its compile unit's
    // DIE tree per pc) instead of all pcs of a compile unit in one walk: the reference the tests
    // hold the fast way against.
    void resolveOnePcAtATime(bool on) { m_onePcAtATime = on; }
    // Where separate debug files are looked for, in libdwfl's debuginfo_path form (the default,
    // ":.debug:/usr/lib/debug": beside the file, in its .debug/, and under /usr/lib/debug by
    // build-id (.build-id/xx/yyyy.debug) and by the file's directory). For modules opened after it.
    void setDebugPath(std::string path);

private:
    struct Module;
    struct Callbacks;
    Module& open(const std::string& path, const std::string& buildId);
    void indexSymbols(Module& m);
    std::unique_ptr<Callbacks> m_callbacks;
    std::map<std::pair<std::string, std::string>, std::unique_ptr<Module>> m_modules;
    uint64_t m_uses = 0, m_opened = 0;
    bool m_onePcAtATime = false;
};
void writeSymbols(const Resolution& resolution, RowWriter& out, StringTable& strings);

} // namespace tidemark::collector
