// Tests of the symbol index and of names from stripped files and separate debug files, against what
// the dynamic linker says of libtm_symtest (dlsym addresses, dladdr1 sizes) and the pcs its functions
// return from inside themselves; and against libdwfl's own name lookup on installed libraries.
#include "collector/symbol_index.h"
#include "collector/symbolize.h"

#include <gtest/gtest.h>

#include <dlfcn.h>
#include <elfutils/libdwfl.h>
#include <fcntl.h>
#include <gelf.h>
#include <link.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

using namespace tidemark;
namespace fs = std::filesystem;

namespace {

struct Function {
    std::string symbol, name; // as dlsym takes it; as the index must name it (demangled)
    uint64_t start = 0, size = 0; // file-relative, from the dynamic linker
};

// libtm_symtest loaded, with what the dynamic linker knows of its exports.
class SymTestLib {
public:
    SymTestLib()
    {
        m_handle = dlopen(TIDEMARK_SYMTEST_LIB, RTLD_NOW | RTLD_LOCAL);
        if (!m_handle)
            return;
        link_map* map = nullptr;
        dlinfo(m_handle, RTLD_DI_LINKMAP, &map);
        m_bias = map->l_addr;
        const std::vector<std::pair<std::string, std::string>> exports = {
            { "tm_symtest_fn0", "tm_symtest_fn0" },
            { "tm_symtest_fn1", "tm_symtest_fn1" },
            { "tm_symtest_fn2", "tm_symtest_fn2" },
            { "tm_symtest_fn3", "tm_symtest_fn3" },
            { "tm_symtest_fn4", "tm_symtest_fn4" },
            { "tm_symtest_fn5", "tm_symtest_fn5" },
            { "tm_symtest_fn6", "tm_symtest_fn6" },
            { "tm_symtest_fn7", "tm_symtest_fn7" },
            { "_ZN9tmsymtest6Widget4growEi", "tmsymtest::Widget::grow(int)" },
            { "tm_symtest_pc_in_hidden", "tm_symtest_pc_in_hidden" },
            { "tm_symtest_nosize", "tm_symtest_nosize" },
            { "tm_symtest_after_nosize", "tm_symtest_after_nosize" },
        };
        for (const auto& [symbol, name] : exports) {
            void* address = dlsym(m_handle, symbol.c_str());
            void* sym = nullptr;
            Dl_info info;
            if (!address || !dladdr1(address, &info, &sym, RTLD_DL_SYMENT) || !sym)
                continue;
            const uint64_t size = static_cast<const ElfW(Sym)*>(sym)->st_size;
            m_functions.push_back({ symbol, name, reinterpret_cast<uintptr_t>(address) - m_bias, size });
        }
    }
    ~SymTestLib()
    {
        if (m_handle)
            dlclose(m_handle);
    }
    bool loaded() const { return m_handle != nullptr; }
    const std::vector<Function>& functions() const { return m_functions; }
    const Function* function(const std::string& symbol) const
    {
        for (const Function& f : m_functions)
            if (f.symbol == symbol)
                return &f;
        return nullptr;
    }
    template <typename T> T call(const char* symbol) const { return reinterpret_cast<T>(dlsym(m_handle, symbol)); }
    uint64_t relative(void* pc) const { return reinterpret_cast<uintptr_t>(pc) - m_bias; }
    // A pc inside exported function symbol (the return address of a call it makes).
    uint64_t pcInside(const std::string& symbol) const
    {
        if (symbol == "_ZN9tmsymtest6Widget4growEi")
            return relative(call<void* (*)(int)>(symbol.c_str())(1));
        return relative(call<void* (*)()>(symbol.c_str())());
    }
    uint64_t pcInHidden(int k) const { return relative(call<void* (*)(int)>("tm_symtest_pc_in_hidden")(k)); }
    uint64_t dataAddress() const { return relative(dlsym(m_handle, "tm_symtest_table")); }

private:
    void* m_handle = nullptr;
    uintptr_t m_bias = 0;
    std::vector<Function> m_functions;
};

const fs::path kDir = TIDEMARK_SYMTEST_DIR;
const fs::path kUnstripped = TIDEMARK_SYMTEST_LIB;
const fs::path kStripped = kDir / "stripped/libtm_symtest.so";
const fs::path kLinked = kDir / "linked/libtm_symtest.so";
const fs::path kDebugFile = kDir / "libtm_symtest.debug";

collector::SymbolIndex indexOf(const fs::path& file)
{
    collector::SymbolIndex index;
    EXPECT_TRUE(index.addFile(file.string())) << file;
    index.finish();
    return index;
}

int sourceLineOf(const std::string& text)
{
    const char* src = std::getenv("TIDEMARK_SOURCE_DIR");
    fs::path file = fs::path(src ? src : TIDEMARK_TEST_SOURCE_DIR) / "tests/unit/collector/symbol_index_lib.cpp";
    std::ifstream in(file);
    std::string line;
    for (int n = 1; std::getline(in, line); ++n)
        if (line.rfind(text, 0) == 0)
            return n;
    ADD_FAILURE() << text << " not found in " << file;
    return -1;
}

class SymbolIndexTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        ASSERT_TRUE(m_lib.loaded()) << dlerror();
        ASSERT_EQ(m_lib.functions().size(), 12u) << "an export of libtm_symtest was not found by dlsym/dladdr1";
        for (const fs::path& p : { kStripped, kLinked, kDebugFile })
            ASSERT_TRUE(fs::exists(p)) << p << " (made by objcopy after linking tm_symtest)";
    }
    SymTestLib m_lib;
};

// Every exported function is named from its first to its last byte and at the pc it returns from
// inside itself, in the library as built (.symtab + .dynsym) and in a copy with .dynsym only. The
// byte after its end is not it: in the padding of the 64-byte alignment, no function at all.
TEST_F(SymbolIndexTest, ExportedFunctionsCoverExactlyTheirOwnBytes)
{
    for (const fs::path& file : { kUnstripped, kStripped }) {
        SCOPED_TRACE(file.string());
        collector::SymbolIndex index = indexOf(file);
        size_t inPadding = 0;
        for (const Function& f : m_lib.functions()) {
            SCOPED_TRACE(f.symbol);
            EXPECT_EQ(index.functionAt(f.start), f.name);
            if (f.size == 0)
                continue; // tm_symtest_nosize: its own test
            EXPECT_EQ(index.functionAt(f.start + f.size - 1), f.name);
            if (f.symbol != "tm_symtest_after_nosize" && f.symbol != "tm_symtest_pc_in_hidden") {
                const uint64_t pc = m_lib.pcInside(f.symbol) - 1; // the call instruction, as for a frame
                ASSERT_GT(pc, f.start);
                ASSERT_LT(pc, f.start + f.size);
                EXPECT_EQ(index.functionAt(pc), f.name);
            }
            const uint64_t past = f.start + f.size;
            const std::string& next = index.functionAt(past);
            EXPECT_NE(next, f.name);
            inPadding += next.empty();
            for (const Function& g : m_lib.functions()) // another export only where the linker has it
                if (g.name == next) {
                    EXPECT_TRUE(past >= g.start && past < g.start + std::max<uint64_t>(g.size, 1)) << g.symbol;
                }
        }
        EXPECT_GE(inPadding, 5u) << "the test library should have alignment padding after most functions";
    }
}

// Hidden functions are named from .symtab; in the copy without it, their pcs lie in no function (not
// in the exported one before them).
TEST_F(SymbolIndexTest, HiddenFunctionsNamedFromSymtabAndInNoFunctionWithoutIt)
{
    collector::SymbolIndex full = indexOf(kUnstripped), stripped = indexOf(kStripped);
    EXPECT_GT(full.size(), stripped.size());
    for (int k = 0; k < 4; ++k) {
        const uint64_t pc = m_lib.pcInHidden(k) - 1;
        EXPECT_EQ(full.functionAt(pc), "tm_symtest_hidden" + std::to_string(k) + "()");
        EXPECT_EQ(stripped.functionAt(pc), "") << "hidden function " << k << " named after a neighbour";
        EXPECT_EQ(stripped.find(pc), nullptr);
    }
}

// A function without an ELF size covers its bytes up to the next symbol, and no further.
TEST_F(SymbolIndexTest, FunctionWithoutSizeEndsAtTheNextSymbol)
{
    const Function* nosize = m_lib.function("tm_symtest_nosize");
    const Function* after = m_lib.function("tm_symtest_after_nosize");
    ASSERT_TRUE(nosize && after);
    ASSERT_EQ(nosize->size, 0u);
    ASSERT_EQ(after->start, nosize->start + 9) << "8 nops and a ret";
    ASSERT_EQ(after->size, 5u);
    for (const fs::path& file : { kUnstripped, kStripped }) {
        SCOPED_TRACE(file.string());
        collector::SymbolIndex index = indexOf(file);
        for (uint64_t at = 0; at < 9; ++at)
            EXPECT_EQ(index.functionAt(nosize->start + at), "tm_symtest_nosize") << at;
        const collector::SymbolIndex::Hit* hit = index.find(nosize->start);
        ASSERT_NE(hit, nullptr);
        EXPECT_EQ(hit->end, after->start);
        EXPECT_EQ(index.functionAt(after->start), "tm_symtest_after_nosize");
        const std::string& past = index.functionAt(after->start + after->size);
        EXPECT_NE(past, "tm_symtest_after_nosize");
        EXPECT_NE(past, "tm_symtest_nosize");
    }
}

TEST_F(SymbolIndexTest, DataIsInNoFunction)
{
    for (const fs::path& file : { kUnstripped, kStripped }) {
        collector::SymbolIndex index = indexOf(file);
        EXPECT_EQ(index.find(m_lib.dataAddress()), nullptr) << file;
        EXPECT_EQ(index.find(m_lib.dataAddress() + 8), nullptr) << file;
    }
}

// Through the resolver, as the ingest calls it: return addresses in the stripped copy.
struct Row {
    std::string function, file;
    int line;
};
std::map<int64_t, std::vector<Row>> resolve(const fs::path& file, const std::vector<uint64_t>& returnAddresses,
    const std::string& debugPath = {}, collector::SymbolizeReport* report = nullptr)
{
    collector::SymbolResolver resolver;
    if (!debugPath.empty())
        resolver.setDebugPath(debugPath);
    std::vector<collector::FrameToSymbolize> frames;
    for (size_t i = 0; i < returnAddresses.size(); ++i)
        frames.push_back({ static_cast<int64_t>(i), returnAddresses[i], file.string(), "" });
    collector::Resolution r = resolver.resolve(frames);
    if (report)
        *report = r.report;
    std::map<int64_t, std::vector<Row>> out;
    for (const auto& s : r.symbols)
        out[s.frame].push_back({ s.function, s.file, s.line });
    return out;
}

TEST_F(SymbolIndexTest, StrippedLibraryNamesItsExportsThroughTheResolver)
{
    std::vector<uint64_t> ras;
    for (const char* f : { "tm_symtest_fn3", "_ZN9tmsymtest6Widget4growEi" })
        ras.push_back(m_lib.pcInside(f));
    ras.push_back(m_lib.pcInHidden(2));
    collector::SymbolizeReport report;
    auto rows = resolve(kStripped, ras, {}, &report);
    EXPECT_EQ(report.resolved, 2u);
    ASSERT_EQ(rows[0].size(), 1u);
    EXPECT_EQ(rows[0][0].function, "tm_symtest_fn3");
    EXPECT_EQ(rows[0][0].file, "") << "no debug information in the stripped copy";
    ASSERT_EQ(rows[1].size(), 1u);
    EXPECT_EQ(rows[1][0].function, "tmsymtest::Widget::grow(int)");
    EXPECT_TRUE(rows[2].empty()) << rows[2][0].function;
}

// The build-id of the loaded libtm_symtest, from its PT_NOTE as the dynamic linker mapped it.
std::string loadedBuildId()
{
    std::string hex;
    dl_iterate_phdr(
        [](dl_phdr_info* info, size_t, void* data) {
            if (!info->dlpi_name || !std::string(info->dlpi_name).ends_with("libtm_symtest.so"))
                return 0;
            for (int i = 0; i < info->dlpi_phnum; ++i) {
                const auto& ph = info->dlpi_phdr[i];
                if (ph.p_type != PT_NOTE)
                    continue;
                const char* p = reinterpret_cast<const char*>(info->dlpi_addr + ph.p_vaddr);
                const char* end = p + ph.p_memsz;
                while (p + sizeof(ElfW(Nhdr)) <= end) {
                    const auto* n = reinterpret_cast<const ElfW(Nhdr)*>(p);
                    const char* desc = p + sizeof(*n) + ((n->n_namesz + 3) & ~3u);
                    if (n->n_type == NT_GNU_BUILD_ID && n->n_namesz == 4) {
                        static const char* kHex = "0123456789abcdef";
                        for (size_t k = 0; k < n->n_descsz; ++k) {
                            *static_cast<std::string*>(data) += kHex[static_cast<uint8_t>(desc[k]) >> 4];
                            *static_cast<std::string*>(data) += kHex[static_cast<uint8_t>(desc[k]) & 15];
                        }
                        return 1;
                    }
                    p = desc + ((n->n_descsz + 3) & ~3u);
                }
            }
            return 1;
        },
        &hex);
    return hex;
}

class DebugFileTest : public SymbolIndexTest {
protected:
    void SetUp() override
    {
        SymbolIndexTest::SetUp();
        m_tmp = fs::temp_directory_path() / ("tidemark_symtest_" + std::to_string(::getpid()));
        fs::remove_all(m_tmp);
        fs::create_directories(m_tmp);
    }
    void TearDown() override { fs::remove_all(m_tmp); }

    // The hidden functions' frames must come with their names and their call lines from the debug file.
    void expectHiddenNamedWithLines(const fs::path& file, const std::string& debugPath)
    {
        std::vector<uint64_t> ras;
        for (int k = 0; k < 4; ++k)
            ras.push_back(m_lib.pcInHidden(k));
        ras.push_back(m_lib.pcInside("tm_symtest_fn5"));
        auto rows = resolve(file, ras, debugPath);
        for (int k = 0; k < 4; ++k) {
            SCOPED_TRACE(k);
            ASSERT_FALSE(rows[k].empty());
            EXPECT_EQ(rows[k][0].function, "tm_symtest_hidden" + std::to_string(k) + "()");
            EXPECT_TRUE(rows[k].back().file.ends_with("symbol_index_lib.cpp")) << rows[k].back().file;
            EXPECT_EQ(rows[k].back().line, sourceLineOf("TM_HIDDEN(" + std::to_string(k) + ")"));
        }
        ASSERT_FALSE(rows[4].empty());
        EXPECT_EQ(rows[4][0].function, "tm_symtest_fn5");
        EXPECT_EQ(rows[4].back().line, sourceLineOf("TM_EXPORTED(5)"));
    }
    fs::path m_tmp;
};

// A debug file under <dir>/.build-id/xx/yyyy.debug names what the stripped file lost, with lines.
TEST_F(DebugFileTest, FoundByBuildId)
{
    const std::string id = loadedBuildId();
    ASSERT_GE(id.size(), 4u) << "libtm_symtest has no build-id note";
    fs::path target = m_tmp / ".build-id" / id.substr(0, 2) / (id.substr(2) + ".debug");
    fs::create_directories(target.parent_path());
    fs::copy_file(kDebugFile, target);
    // Without the debug directory: names of exports only.
    auto plain = resolve(kStripped, { m_lib.pcInHidden(1) }, ":.debug");
    EXPECT_TRUE(plain[0].empty());
    expectHiddenNamedWithLines(kStripped, ":.debug:" + m_tmp.string());
}

// A .gnu_debuglink names a debug file in the file's own directory or in its .debug/ subdirectory.
TEST_F(DebugFileTest, FoundByDebuglink)
{
    for (const fs::path& dir : { m_tmp, m_tmp / ".debug" }) {
        SCOPED_TRACE(dir.string());
        fs::remove_all(m_tmp);
        fs::create_directories(dir);
        fs::copy_file(kLinked, m_tmp / "libtm_symtest.so");
        fs::copy_file(kDebugFile, dir / "libtm_symtest.debug");
        expectHiddenNamedWithLines(m_tmp / "libtm_symtest.so", ":.debug"); // no build-id directory
    }
}

// libdwfl's own lookup (dwfl_module_addrinfo, a walk of the whole table per pc) is the reference on
// real distribution libraries: wherever it finds a sized function symbol holding the pc, the index
// finds a symbol starting at the same address (the name may be another alias of it); and the index
// never names a pc that libdwfl finds in no symbol.
class DwflReference {
public:
    explicit DwflReference(const std::string& path)
    {
        m_dwfl = dwfl_begin(&m_callbacks);
        dwfl_report_begin(m_dwfl);
        m_mod = dwfl_report_elf(m_dwfl, path.c_str(), path.c_str(), -1, 0, true);
        dwfl_report_end(m_dwfl, nullptr, nullptr);
        if (!m_mod)
            return;
        GElf_Addr bias = 0;
        Elf* elf = dwfl_module_getelf(m_mod, &bias);
        m_index.addElf(elf, bias);
        Dwarf_Addr debugBias = 0;
        if (Dwarf* dwarf = dwfl_module_getdwarf(m_mod, &debugBias))
            if (Elf* debugElf = dwarf_getelf(dwarf); debugElf != elf)
                m_index.addElf(debugElf, debugBias);
        m_index.finish();
        // The executable segment, where frames are.
        size_t n = 0;
        elf_getphdrnum(elf, &n);
        for (size_t i = 0; i < n; ++i) {
            GElf_Phdr ph;
            if (gelf_getphdr(elf, static_cast<int>(i), &ph) && ph.p_type == PT_LOAD && (ph.p_flags & PF_X))
                m_code = { ph.p_vaddr + bias, ph.p_vaddr + bias + ph.p_memsz };
        }
    }
    ~DwflReference()
    {
        if (m_dwfl)
            dwfl_end(m_dwfl);
    }
    bool ok() const { return m_mod && m_code.second > m_code.first; }

    // Returns the number of pcs the reference names with a sized function symbol.
    size_t compare(size_t samples)
    {
        size_t named = 0;
        const uint64_t step = std::max<uint64_t>(1, (m_code.second - m_code.first) / samples) | 1;
        size_t failures = 0;
        for (uint64_t pc = m_code.first; pc < m_code.second && failures < 5; pc += step) {
            GElf_Off offset = 0;
            GElf_Sym sym;
            const char* name = dwfl_module_addrinfo(m_mod, pc, &offset, &sym, nullptr, nullptr, nullptr);
            const collector::SymbolIndex::Hit* hit = m_index.find(pc);
            const int type = name ? GELF_ST_TYPE(sym.st_info) : -1;
            if (name && sym.st_size > 0 && offset < sym.st_size && (type == STT_FUNC || type == STT_GNU_IFUNC)) {
                ++named;
                if (!hit || hit->start != pc - offset) {
                    ++failures;
                    ADD_FAILURE() << "pc 0x" << std::hex << pc << ": libdwfl " << name << " at 0x" << pc - offset
                                  << ", index " << (hit ? hit->name : "none");
                }
            } else if (hit && !name) {
                ++failures;
                ADD_FAILURE() << "pc 0x" << std::hex << pc << ": index " << hit->name << ", libdwfl none";
            }
        }
        return named;
    }

private:
    char* m_debugPath = nullptr;
    Dwfl_Callbacks m_callbacks { dwfl_build_id_find_elf, dwfl_standard_find_debuginfo, dwfl_offline_section_address,
        &m_debugPath };
    Dwfl* m_dwfl = nullptr;
    Dwfl_Module* m_mod = nullptr;
    collector::SymbolIndex m_index;
    std::pair<uint64_t, uint64_t> m_code;
};

std::string pathOfObjectHolding(const void* address)
{
    Dl_info info;
    if (!dladdr(address, &info) || !info.dli_fname)
        return {};
    return info.dli_fname;
}

TEST(SymbolIndexReferenceTest, AgreesWithLibdwflOnDistributionLibraries)
{
    std::vector<std::string> files = {
        pathOfObjectHolding(reinterpret_cast<const void*>(&::malloc)), // libc, with libc6-dbg's debug file if installed
        pathOfObjectHolding(reinterpret_cast<const void*>(&std::terminate)), // libstdc++: .dynsym only
    };
    // The stripped 84 MB PyTorch library (python3-torch), when installed: .dynsym only.
    for (const char* torch :
        { "/usr/lib/x86_64-linux-gnu/libtorch_cpu.so.1.13", "/lib/x86_64-linux-gnu/libtorch_cpu.so.1.13" })
        if (fs::exists(torch)) {
            files.push_back(torch);
            break;
        }
    if (files.size() < 3)
        std::cout
            << "[ NOTE     ] libtorch_cpu.so.1.13 (python3-torch) not installed: compared on libc and libstdc++ only\n";
    for (const std::string& file : files) {
        SCOPED_TRACE(file);
        ASSERT_FALSE(file.empty());
        DwflReference reference(file);
        ASSERT_TRUE(reference.ok());
        EXPECT_GT(reference.compare(file.find("torch") != std::string::npos ? 600 : 3000), 50u)
            << "too few pcs in named functions for the comparison to say anything";
    }
}

} // namespace
