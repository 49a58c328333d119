// The importers read their inputs as streams: the tar reader against archives made by tar(1) (long
// names, directories, empty and block-sized members, members read partly or not at all, truncations),
// and the pickle reader fed from a gzip stream against the same pickle parsed from memory.
#include "import_test_support.h"

#include "analysis/import/input_bytes.h"
#include "analysis/import/pickle_reader.h"

#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <map>
#include <random>
#include <sstream>

using namespace tidemark;
using namespace tidemark::import;
using namespace tidemark::import::test;

namespace {

[[maybe_unused]] ::testing::Environment* const kCleanup = ::testing::AddGlobalTestEnvironment(new ScratchCleanup);

std::string drain(std::streambuf& in)
{
    return std::string(std::istreambuf_iterator<char>(&in), {});
}

// Members of an archive tar(1) wrote from files of known content; the tar file's bytes.
struct Archive {
    std::map<std::string, std::string> files; // name in the archive -> content
    std::string bytes;
};

Archive makeArchive(bool gzip)
{
    Archive a;
    std::mt19937 rng(7);
    auto random = [&](size_t n) {
        std::string s(n, '\0');
        for (char& c : s)
            c = static_cast<char>(rng());
        return s;
    };
    const std::string longName = "d/" + std::string(140, 'n') + ".json"; // GNU long-name record
    a.files = { { "d/empty.json", "" }, { "d/block.json", random(512) }, { "d/big.json", random(200'001) },
        { longName, "{\"traceEvents\": []}" }, { "d/sub/small.txt", "seven" } };
    std::string dir = scratch(gzip ? "tar-src-gz" : "tar-src");
    std::filesystem::create_directories(dir + "/d/sub");
    for (const auto& [name, content] : a.files)
        writeAll(dir + "/" + name, content);
    std::string tar = dir + (gzip ? ".tar.gz" : ".tar");
    std::string cmd = "tar --format=gnu -c" + std::string(gzip ? "z" : "") + "f '" + tar + "' -C '" + dir + "' d";
    EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
    a.bytes = readAll(tar);
    return a;
}

// Every regular member's name and content, read through a TarReader over in.
Result<std::map<std::string, std::string>> readMembers(std::streambuf& in)
{
    TarReader tar(in);
    std::map<std::string, std::string> got;
    for (;;) {
        auto name = tar.next();
        if (!name)
            return name.error();
        if (!*name)
            return got;
        InputStream member = tar.entry();
        got[**name] = drain(member.stream);
        if (const Error* e = member.failure())
            return *e;
    }
}

TEST(TarReader, MembersEqualTheFilesTarWasGiven)
{
    for (bool gzip : { false, true }) {
        Archive a = makeArchive(gzip);
        ASSERT_FALSE(a.bytes.empty());
        std::optional<GunzipStreamBuf> gz;
        std::optional<MemoryStreamBuf> mem;
        std::streambuf* in = nullptr;
        if (gzip)
            in = &gz.emplace(a.bytes);
        else
            in = &mem.emplace(a.bytes);
        auto got = readMembers(*in);
        ASSERT_TRUE(got.ok()) << got.error().message;
        EXPECT_EQ(*got, a.files) << "gzip " << gzip;
    }
}

TEST(TarReader, MembersLeftUnreadOrHalfReadAreSkipped)
{
    Archive a = makeArchive(false);
    MemoryStreamBuf in(a.bytes);
    TarReader tar(in);
    std::map<std::string, std::string> got;
    int k = 0;
    for (auto name = tar.next(); name.ok() && *name; name = tar.next(), ++k) {
        if (k % 2 == 0)
            continue; // not read at all
        if (**name == "d/big.json") {
            EXPECT_EQ(tar.peek().substr(0, 3), a.files["d/big.json"].substr(0, 3));
            InputStream member = tar.entry();
            char part[1000];
            ASSERT_EQ(member.stream.sgetn(part, sizeof part), 1000);
            EXPECT_EQ(std::string(part, sizeof part), a.files["d/big.json"].substr(0, 1000));
            continue; // half read
        }
        got[**name] = drain(tar.entry().stream);
    }
    EXPECT_EQ(k, static_cast<int>(a.files.size()));
    EXPECT_FALSE(got.empty());
    for (const auto& [name, content] : got)
        EXPECT_EQ(content, a.files[name]) << name;
}

TEST(TarReader, EveryTruncationEndsInAnErrorOrFewerWholeMembers)
{
    Archive a = makeArchive(false);
    for (size_t cut = 0; cut < a.bytes.size(); cut += cut < 2048 ? 61 : 4093) {
        MemoryStreamBuf in(std::string_view(a.bytes).substr(0, cut));
        auto got = readMembers(in);
        if (!got.ok()) {
            EXPECT_EQ(got.error().code, ErrorCode::Corrupt) << "cut at " << cut;
            EXPECT_NE(got.error().message.find("truncated"), std::string::npos) << got.error().message;
            continue;
        }
        // A cut exactly between members reads as an archive without its end blocks: whole members only.
        for (const auto& [name, content] : *got)
            EXPECT_EQ(content, a.files[name]) << "cut at " << cut << ": " << name;
        EXPECT_LE(got->size(), a.files.size()) << "cut at " << cut;
    }
}

TEST(PickleStream, AGzipStreamParsesAsTheBytesInMemoryDo)
{
    std::string raw = readAll(fixture("tiny_snapshot.pickle"));
    ASSERT_GT(raw.size(), 1000u);
    std::string gzPath = scratch("tiny.pickle");
    writeAll(gzPath, raw);
    ASSERT_EQ(std::system(("gzip -kf '" + gzPath + "'").c_str()), 0);
    std::string compressed = readAll(gzPath + ".gz");
    auto whole = parsePickle(raw);
    GunzipStreamBuf gz(compressed);
    auto streamed = parsePickle(gz);
    ASSERT_TRUE(whole.ok() && streamed.ok());
    ASSERT_EQ(whole->valueCount(), streamed->valueCount());
    for (uint32_t i = 0; i < whole->valueCount(); ++i) {
        const PickleValue &w = whole->value(i), &s = streamed->value(i);
        ASSERT_TRUE(w.kind == s.kind && w.i == s.i && w.s == s.s && w.items == s.items) << "value " << i;
    }
}

TEST(PickleStream, StringsAcrossReadChunksAndLengthsThatLie)
{
    // A 300 000-byte string spans five 64 KiB reads; protocol 0 text numbers sit across a boundary.
    std::string body = "\x80\x04(";
    std::string big(300'000, 'x');
    for (size_t i = 0; i < big.size(); i += 997)
        big[i] = static_cast<char>('a' + i % 26);
    body += '\x8d';
    for (int k = 0; k < 8; ++k)
        body += static_cast<char>((uint64_t { big.size() } >> (8 * k)) & 0xff);
    body += big;
    body += std::string(65536 - body.size() % 65536 - 3, 'N') + "L12345678901L\n" + "l.";
    MemoryStreamBuf in(body);
    auto doc = parsePickle(in);
    ASSERT_TRUE(doc.ok()) << doc.error().message;
    PickleRef list = doc->root();
    ASSERT_TRUE(list.isList());
    EXPECT_EQ(list.at(0).asString(), big);
    EXPECT_EQ(list.at(list.size() - 1).asInt(), 12345678901);

    // BINUNICODE8 claiming 1 GiB in a 16-byte pickle: truncated where the input ends.
    std::string lie = "\x80\x04\x8d";
    lie += std::string("\x00\x00\x00\x40\x00\x00\x00\x00", 8) + "short";
    MemoryStreamBuf small(lie);
    auto bad = parsePickle(small);
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(bad.error().code, ErrorCode::Corrupt);
    EXPECT_NE(bad.error().message.find("truncated at byte 16"), std::string::npos) << bad.error().message;
}

} // namespace

TEST(PickleStream, AGzippedRealSnapshotIsFoundAndImportsAsThePlainOne)
{
    TIDEMARK_REQUIRE_REALDATA(path, "torch_snapshot/constructor-sun_code_location__qwen3_dp3gpu_oom_expandable.pickle");
    std::string copy = scratch("qwen.pickle");
    std::filesystem::copy_file(path, copy, std::filesystem::copy_options::overwrite_existing);
    ASSERT_EQ(std::system(("gzip -kf '" + copy + "'").c_str()), 0);
    auto format = detectFormat(copy + ".gz");
    ASSERT_TRUE(format.ok()) << format.error().message;
    EXPECT_EQ(*format, Format::TorchSnapshot);
    trace::Db plain = importAndOpen(path, "qwen-plain.tmdb");
    trace::Db gzipped = importAndOpen(copy + ".gz", "qwen-gz.tmdb");
    const char* figures[] = { "SELECT count(*) FROM allocations", "SELECT sum(size_bytes) FROM allocations",
        "SELECT count(*) FROM pool_heaps", "SELECT count(*) FROM failed_allocations", "SELECT count(*) FROM callsites" };
    for (const char* sql : figures) {
        EXPECT_GT(queryInt(plain, sql), 0) << sql;
        EXPECT_EQ(queryInt(plain, sql), queryInt(gzipped, sql)) << sql;
    }
}
