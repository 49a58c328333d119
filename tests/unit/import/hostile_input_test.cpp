// Bad inputs through the whole importer and the CLI: real files truncated at many offsets and with flipped
// bytes, wrong formats, refused pickles, a gzip bomb. Each must end in one typed error (exit 2 from the
// CLI, one "tidemark: error:" line) and no output file, never a crash.
#include "import_test_support.h"

#include "analysis/import/input_bytes.h"

#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <sstream>
#include <sys/wait.h>

using namespace tidemark;
using namespace tidemark::import;
using namespace tidemark::import::test;

namespace {

[[maybe_unused]] ::testing::Environment* const kCleanup = ::testing::AddGlobalTestEnvironment(new ScratchCleanup);

// Imports data from a scratch file; returns the result and checks the error is typed and one line.
Result<ImportSummary> importBytes(std::string_view data, const std::string& name)
{
    std::string in = scratch(name), out = scratch(name + ".tmdb");
    writeAll(in, data);
    auto r = importFile(in, out);
    if (!r.ok()) {
        EXPECT_NE(r.error().code, ErrorCode::Ok);
        EXPECT_FALSE(r.error().message.empty());
        EXPECT_EQ(r.error().message.find('\n'), std::string::npos) << r.error().message;
        EXPECT_FALSE(std::filesystem::exists(out)) << "half-written output left behind";
    }
    return r;
}

std::vector<size_t> cutPoints(size_t size, int n)
{
    std::vector<size_t> cuts = { 0, 1, 2, 7, 16, 100, 511, 513 };
    for (int i = 1; i < n; ++i)
        cuts.push_back(size * static_cast<size_t>(i) / static_cast<size_t>(n));
    cuts.push_back(size - 1);
    std::erase_if(cuts, [size](size_t c) { return c >= size; });
    return cuts;
}

} // namespace

TEST(HostileInput, TruncatedInputsOfEveryTextFormatAreErrors)
{
    std::vector<std::string> files = { fixture("tiny_snapshot.pickle"), fixture("tiny_kineto.json.gz") };
    for (const char* real : { "torch_snapshot/silmont2000_assignment2-systems__mem_snapshot_small.pickle",
             "torch_snapshot/yiyi-philosophy_llm-inference__oom_snapshot_torch20.pickle",
             "kineto/tracelens__h100_qwen1.5-0.5b_inference_memory.redacted.json.gz",
             "kineto/param__dlrm_kineto_8rank_v100.tar.gz" })
        if (std::string p = realdata(real); !p.empty())
            files.push_back(p);
    int n = 0;
    for (const std::string& file : files) {
        std::string data = readAll(file);
        ASSERT_FALSE(data.empty()) << file;
        for (size_t cut : cutPoints(data.size(), 24)) {
            auto r = importBytes(std::string_view(data).substr(0, cut), "trunc" + std::to_string(n++));
            EXPECT_FALSE(r.ok()) << file << " cut at " << cut << " was accepted";
        }
    }
}

TEST(HostileInput, TruncatedAndDamagedSqliteExportsNeverCrash)
{
    TIDEMARK_REQUIRE_REALDATA(path, "nsys/pipit__saxpy-mpi-cuda_a100_rank0.sqlite");
    std::string data = readAll(path);
    int n = 0, errors = 0;
    for (size_t cut : cutPoints(data.size(), 16)) {
        auto r = importBytes(std::string_view(data).substr(0, cut), "sqltrunc" + std::to_string(n++) + ".sqlite");
        errors += !r.ok();
        if (!r.ok()) { // SQLite's statement text is not for users
            EXPECT_EQ(r.error().message.find("SELECT"), std::string::npos) << r.error().message;
            EXPECT_LT(r.error().message.size(), 300u) << r.error().message;
        }
    }
    EXPECT_GT(errors, 0);
    std::mt19937 rng(7);
    for (int i = 0; i < 24; ++i) {
        std::string bad = data;
        for (int k = 0; k < 64; ++k)
            bad[rng() % bad.size()] ^= static_cast<char>(1 + rng() % 255);
        (void)importBytes(bad, "sqlflip" + std::to_string(i) + ".sqlite");
    }
}

TEST(HostileInput, FlippedBytesInPicklesAndJsonNeverCrash)
{
    std::vector<std::string> files = { fixture("tiny_snapshot.pickle"), fixture("tiny_kineto.json.gz"),
        fixture("expandable_snapshot.pickle") };
    if (std::string p = realdata("torch_snapshot/silmont2000_assignment2-systems__mem_snapshot_small.pickle"); !p.empty())
        files.push_back(p);
    std::mt19937 rng(99);
    int n = 0, errors = 0;
    for (const std::string& file : files) {
        std::string data = readAll(file);
        for (int i = 0; i < 40; ++i) {
            std::string bad = data;
            for (int k = 0; k < 1 + i % 4; ++k)
                bad[rng() % bad.size()] ^= static_cast<char>(1 + rng() % 255);
            errors += !importBytes(bad, "flip" + std::to_string(n++)).ok();
        }
    }
    EXPECT_GT(errors, 0);
}

TEST(HostileInput, WrongFormatsAndRefusedPicklesAreTypedErrors)
{
    auto empty = importBytes("", "empty.bin");
    ASSERT_FALSE(empty.ok());
    EXPECT_EQ(empty.error().code, ErrorCode::Corrupt);
    auto text = importBytes("hello, this is not a trace\n", "text.txt");
    ASSERT_FALSE(text.ok());
    EXPECT_EQ(text.error().code, ErrorCode::Unsupported);
    auto elf = importBytes(std::string("\x7f" "ELF\x02\x01\x01", 7) + std::string(100, '\0'), "elf.bin");
    ASSERT_FALSE(elf.ok());
    EXPECT_EQ(elf.error().code, ErrorCode::Unsupported);
    // A pickle that would run os.system: refused, whatever it calls.
    auto evil = importBytes(std::string("\x80\x04\x95\x20\0\0\0\0\0\0\0", 11) + "cos\nsystem\n\x8c\x02id\x85R.", "evil.pickle");
    ASSERT_FALSE(evil.ok());
    EXPECT_EQ(evil.error().code, ErrorCode::Unsupported);
    EXPECT_NE(evil.error().message.find("GLOBAL"), std::string::npos);
    // Plain data that is not a snapshot.
    auto notSnap = importBytes(std::string("\x80\x04K\x05.", 5), "int.pickle");
    ASSERT_FALSE(notSnap.ok());
    EXPECT_EQ(notSnap.error().code, ErrorCode::Corrupt);
    // JSON that is not a trace.
    auto json = importBytes("{\"hello\": [1, 2, 3]}", "x.json");
    ASSERT_FALSE(json.ok());
    EXPECT_EQ(json.error().code, ErrorCode::Unsupported);
    // A JSON array of non-events (e.g. a torch memory timeline) is not a trace.
    auto timeline = importBytes("[[-1, 1, 512, 6], [1000, 2, 256, 2]]", "timeline.json");
    ASSERT_FALSE(timeline.ok());
    EXPECT_EQ(timeline.error().code, ErrorCode::Unsupported);
    // 200k levels of JSON nesting: an error, not a stack overflow; deep objects inside an event are ignored.
    auto deep = importBytes(std::string(200000, '[') + std::string(200000, ']'), "deep.json");
    ASSERT_FALSE(deep.ok());
    std::string deepEvent = "{\"traceEvents\": [";
    for (int i = 0; i < 100000; ++i)
        deepEvent += "{\"a\":";
    deepEvent += "1" + std::string(100000, '}') + "]}";
    (void)importBytes(deepEvent, "deep2.json");
    // A tidemark recording is not an import.
    std::string rec = scratch("already.tmdb");
    ASSERT_TRUE(importFile(fixture("tiny_snapshot.pickle"), rec).ok());
    auto again = importFile(rec, scratch("again.tmdb"));
    ASSERT_FALSE(again.ok());
    EXPECT_EQ(again.error().code, ErrorCode::Unsupported);
    // The output must never overwrite the input.
    auto same = importFile(rec, rec);
    ASSERT_FALSE(same.ok());
    EXPECT_EQ(same.error().code, ErrorCode::Usage);
    EXPECT_TRUE(std::filesystem::exists(rec));
}

TEST(HostileInput, GzipBombStopsAtTheLimit)
{
    std::string zeros(64 << 20, '\0');
    // Compress with zlib's gzip wrapper through gunzip's counterpart: gzip(1) is not needed for a bomb.
    std::string in = scratch("zeros.bin");
    writeAll(in, zeros);
    ASSERT_EQ(std::system(("gzip -f -9 '" + in + "'").c_str()), 0);
    std::string bomb = readAll(in + ".gz");
    ASSERT_LT(bomb.size(), 1u << 20);
    auto r = gunzip(bomb, 16 << 20);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ErrorCode::Usage);
    auto whole = gunzip(bomb);
    ASSERT_TRUE(whole.ok());
    EXPECT_EQ(whole->size(), zeros.size());
}

TEST(HostileInput, CliPrintsOneErrorLineAndExitsTwo)
{
    const char* build = std::getenv("TIDEMARK_BUILD_DIR");
    ASSERT_NE(build, nullptr);
    std::string cli = std::string(build) + "/bin/tidemark";
    if (!std::filesystem::exists(cli))
        GTEST_SKIP() << "the tidemark CLI is not built";
    std::string data = readAll(fixture("tiny_snapshot.pickle"));
    std::string in = scratch("cli_trunc.pickle"), out = scratch("cli_trunc.tmdb"), err = scratch("cli_trunc.err");
    writeAll(in, std::string_view(data).substr(0, data.size() / 2));
    int status = std::system((cli + " import '" + in + "' -o '" + out + "' 2> '" + err + "'").c_str());
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 2);
    std::string msg = readAll(err);
    EXPECT_EQ(msg.rfind("tidemark: error: ", 0), 0u) << msg;
    EXPECT_LE(std::count(msg.begin(), msg.end(), '\n'), 2) << msg; // the error and at most a hint
    EXPECT_FALSE(std::filesystem::exists(out));

    status = std::system((cli + " import '" + fixture("tiny_snapshot.pickle") + "' -o '" + out + "' -q").c_str());
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
    EXPECT_TRUE(std::filesystem::exists(out));
}
