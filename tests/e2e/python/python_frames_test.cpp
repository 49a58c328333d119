// Python frames end to end (docs/python.md).
//
// Layouts: the offsets the interposer reads out of CPython's structs (interposer/python_layouts.h)
// against layout_probe.c compiled with each CPython's own headers, for every 3.9-3.13 found here.
//
// Frames: frames.py, a plain Python program, run under `tidemark record` by every CPython 3.9-3.13
// found (Debian's /usr/bin/python3 and pyenv's). It writes, for each allocation of interest, the
// stack the interpreter itself reports on the allocating line (qualified name, file, line, innermost
// first); the recording's Python frames for that allocation must be exactly those, with native
// frames inside and outside them, and the program's output and exit code must be its bare ones.
// A native program's recording holds no Python frame.
#include "interposer/python_layouts.h"
#include "tests/e2e/shell.h"
#include "trace/recording.h"
#include "trace/sqlite.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

using namespace tidemark;
using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

constexpr uint64_t kPythonTag = 0x7079ull << 48; // trace/wire.h kPythonFrameTag

using Ran = tidemark::test::Capture;
constexpr auto run = tidemark::test::shell;

std::string pyenvRoot()
{
    if (const char* r = std::getenv("PYENV_ROOT"))
        return r;
    const char* home = std::getenv("HOME");
    return std::string(home ? home : "/root") + "/.pyenv";
}

// CPython 3.9-3.13 interpreters on this machine: Debian's and pyenv's, one per minor and origin.
std::vector<std::pair<std::string, std::string>> interpreters()
{
    std::vector<std::pair<std::string, std::string>> out;
    if (fs::exists("/usr/bin/python3"))
        out.push_back({ "debian", "/usr/bin/python3" });
    for (unsigned minor = 9; minor <= 13; ++minor) {
        std::error_code ec;
        for (const auto& v : fs::directory_iterator(pyenvRoot() + "/versions", ec)) {
            std::string name = v.path().filename().string();
            std::string prefix = "3." + std::to_string(minor) + ".";
            std::string exe = v.path().string() + "/bin/python3." + std::to_string(minor);
            if (name.rfind(prefix, 0) == 0 && fs::exists(exe))
                out.push_back({ "pyenv-" + name, exe });
        }
    }
    return out;
}

// Header directories (Python.h) of CPython 3.9-3.13 on this machine.
std::vector<std::string> headerDirs()
{
    std::vector<std::string> out;
    for (unsigned minor = 9; minor <= 13; ++minor) {
        std::string leaf = "python3." + std::to_string(minor);
        if (fs::exists("/usr/include/" + leaf + "/Python.h"))
            out.push_back("/usr/include/" + leaf);
        std::error_code ec;
        for (const auto& v : fs::directory_iterator(pyenvRoot() + "/versions", ec)) {
            std::string dir = v.path().string() + "/include/" + leaf;
            if (fs::exists(dir + "/Python.h"))
                out.push_back(dir);
        }
    }
    return out;
}

TEST(PythonLayouts, TableMatchesEveryCPythonHeaderFound)
{
    auto dirs = headerDirs();
    if (dirs.empty())
        GTEST_SKIP() << "no CPython 3.9-3.13 headers here (python3-dev or pyenv installs them)";
    std::string bin = std::string(::testing::TempDir()) + "/tm_layout_probe_" + std::to_string(getpid());
    for (const auto& dir : dirs) {
        SCOPED_TRACE(dir);
        Ran cc = run("cc -w -I" + dir + " " + TIDEMARK_PY_DIR + "/layout_probe.c -o " + bin + " 2>&1");
        ASSERT_EQ(cc.status, 0) << cc.out;
        Ran probe = run(bin);
        ASSERT_EQ(probe.status, 0);
        std::map<std::string, long> got;
        std::istringstream lines(probe.out);
        std::string key;
        long value;
        while (lines >> key >> value)
            got[key] = value;
        unsigned minor = unsigned(got["version"] & 0xff);
        ASSERT_EQ(got["version"] >> 8, 3);
        const interposer::python::Layout* l = interposer::python::layoutFor(minor);
        ASSERT_NE(l, nullptr) << "no layout for 3." << minor;
        EXPECT_EQ(l->tstateFrame, got.at("tstate_frame"));
        EXPECT_EQ(l->cframeFrame, got.at("cframe_frame"));
        EXPECT_EQ(l->frameCode, got.at("frame_code"));
        EXPECT_EQ(l->framePrevious, got.at("frame_previous"));
        EXPECT_EQ(l->frameInstr, got.at("frame_instr"));
        EXPECT_EQ(l->frameIsEntry, got.at("frame_entry"));
        EXPECT_EQ(l->frameOwner, got.at("frame_owner"));
        EXPECT_EQ(l->ownerCStack, got.at("owner_cstack"));
        EXPECT_EQ(l->codeFilename, got.at("code_filename"));
        EXPECT_EQ(l->codeName, got.at("code_name"));
        EXPECT_EQ(l->codeBytecode, got.at("code_bytecode"));
        EXPECT_EQ(l->codeFirstLine, got.at("code_firstlineno"));
        EXPECT_EQ(l->asciiHeader, got.at("ascii_header"));
        EXPECT_EQ(l->compactHeader, got.at("compact_header"));
        EXPECT_EQ(interposer::python::kStrLength, got.at("ascii_length"));
        EXPECT_EQ(interposer::python::kStrState, got.at("ascii_state"));
        EXPECT_EQ(interposer::python::kStrCompactBit, unsigned(got.at("ascii_compact_bit")));
        EXPECT_EQ(interposer::python::kStrAsciiBit, unsigned(got.at("ascii_ascii_bit")));
        EXPECT_EQ(interposer::python::kStrKindShift, unsigned(got.at("ascii_kind_bit")));
    }
    std::remove(bin.c_str());
}

struct Frame {
    bool python = false;
    std::string function, file;
    int64_t line = -1;
};

// The stack of the one allocation of `size` bytes (or size + 1: bytearray's terminator), innermost first.
std::optional<std::vector<Frame>> stackOf(trace::Db& db, int64_t size)
{
    auto st = db.prepare("SELECT callsite_id FROM allocations WHERE size_bytes IN (?1, ?1 + 1)");
    EXPECT_TRUE(st.ok());
    if (!st.ok())
        return std::nullopt;
    st.value().bind(1, size);
    std::vector<int64_t> sites;
    while (st.value().step())
        sites.push_back(st.value().isNull(0) ? -1 : st.value().int64(0));
    EXPECT_EQ(sites.size(), 1u) << "allocations of " << size << " bytes";
    if (sites.size() != 1 || sites[0] < 0)
        return std::nullopt;
    auto q = db.prepare("WITH RECURSIVE c(id, parent, frame, k) AS ("
                        " SELECT id, parent_id, frame_id, 0 FROM callsites WHERE id = ?1"
                        " UNION ALL SELECT cs.id, cs.parent_id, cs.frame_id, c.k + 1 FROM c JOIN callsites cs ON cs.id = c.parent)"
                        " SELECT f.ip, fn.value, fl.value, s.line FROM c JOIN frames f ON f.id = c.frame"
                        " LEFT JOIN symbols s ON s.frame_id = f.id AND s.inline_depth = 0"
                        " LEFT JOIN strings fn ON fn.id = s.function_id LEFT JOIN strings fl ON fl.id = s.file_id"
                        " ORDER BY c.k");
    EXPECT_TRUE(q.ok());
    if (!q.ok())
        return std::nullopt;
    q.value().bind(1, sites[0]);
    std::vector<Frame> out;
    while (q.value().step()) {
        auto& s = q.value();
        Frame f;
        f.python = uint64_t(s.int64(0)) >= kPythonTag;
        f.function = s.isNull(1) ? "" : s.text(1);
        f.file = s.isNull(2) ? "" : s.text(2);
        f.line = s.isNull(3) ? -1 : s.int64(3);
        out.push_back(std::move(f));
    }
    return out;
}

TEST(PythonFrames, EveryInterpreterGetsTheInterpretersOwnStack)
{
    auto found = interpreters();
    if (found.empty())
        GTEST_SKIP() << "no CPython 3.9-3.13 here";
    std::string script = std::string(TIDEMARK_PY_DIR) + "/frames.py";
    std::string tmp = std::string(::testing::TempDir()) + "/tm_pyframes_" + std::to_string(getpid());
    std::vector<unsigned> minorsSeen;
    for (const auto& [origin, exe] : found) {
        SCOPED_TRACE(origin + " " + exe);
        Ran version = run(exe + " -c 'import sys; print(sys.version_info[1])'");
        ASSERT_EQ(version.status, 0);
        minorsSeen.push_back(unsigned(std::stoul(version.out)));

        Ran bare = run(exe + " " + script + " " + tmp + ".bare.json 2>&1");
        ASSERT_EQ(bare.status, 3) << bare.out;
        std::string db = tmp + ".tmdb";
        std::remove(db.c_str());
        Ran rec = run(std::string(TIDEMARK_CLI_PATH) + " record -o " + db + " -- " + exe + " " + script + " "
            + tmp + ".json 2>" + tmp + ".err");
        EXPECT_EQ(rec.status, 3) << "record must return the program's exit code";
        EXPECT_EQ(rec.out, bare.out) << "the program's output must be its bare output";
        std::ifstream in(tmp + ".json");
        json truth = json::parse(in, nullptr, false);
        ASSERT_TRUE(truth.is_object()) << "the program wrote no ground truth";
        ASSERT_EQ(truth.size(), 3u);

        auto opened = trace::openRecording(db);
        ASSERT_TRUE(opened.ok()) << opened.error().message;
        trace::Db& d = opened.value();
        for (const auto& [tag, want] : truth.items()) {
            SCOPED_TRACE(tag);
            auto stack = stackOf(d, want["size"].get<int64_t>());
            ASSERT_TRUE(stack.has_value());
            std::vector<Frame> python;
            for (const Frame& f : *stack)
                if (f.python)
                    python.push_back(f);
            const json& frames = want["frames"];
            ASSERT_EQ(python.size(), frames.size());
            for (size_t i = 0; i < python.size(); ++i) {
                SCOPED_TRACE("python frame " + std::to_string(i));
                EXPECT_EQ(python[i].function, frames[i][0].get<std::string>());
                EXPECT_EQ(python[i].file, frames[i][1].get<std::string>());
                EXPECT_EQ(python[i].line, frames[i][2].get<int64_t>());
            }
            // Merged, not replaced: the allocator's native frames inside, the interpreter's start-up
            // (or the thread's) outside.
            ASSERT_FALSE(stack->empty());
            EXPECT_FALSE(stack->front().python);
            EXPECT_FALSE(stack->back().python);
        }
    }
    std::remove((tmp + ".json").c_str());
    std::remove((tmp + ".bare.json").c_str());
    std::remove((tmp + ".tmdb").c_str());
    std::remove((tmp + ".err").c_str());
    std::printf("checked CPython minors:");
    for (unsigned m : minorsSeen)
        std::printf(" 3.%u", m);
    std::printf("\n");
}

TEST(PythonFrames, NativeProgramHasNone)
{
    std::string stem = std::string(::testing::TempDir()) + "/tm_pyframes_native_" + std::to_string(getpid());
    std::remove((stem + ".tmdb").c_str());
    Ran rec = run(std::string(TIDEMARK_CLI_PATH) + " record -o " + stem + ".tmdb -- " + TIDEMARK_HOST_PATTERN
        + " pattern " + stem + ".truth.json 2>&1");
    ASSERT_EQ(rec.status, 0) << rec.out;
    auto opened = trace::openRecording(stem + ".tmdb");
    ASSERT_TRUE(opened.ok()) << opened.error().message;
    auto st = opened.value().prepare("SELECT count(*), sum(ip >= ?1) FROM frames");
    ASSERT_TRUE(st.ok());
    st.value().bind(1, int64_t(kPythonTag));
    ASSERT_TRUE(st.value().step());
    EXPECT_GT(st.value().int64(0), 10);
    EXPECT_EQ(st.value().int64(1), 0);
    std::remove((stem + ".tmdb").c_str());
    std::remove((stem + ".truth.json").c_str());
}

} // namespace
