// Tests of the stack interning pieces: the callsite trie (shared prefixes, depth, distinct parents)
// and the versioned module map used to resolve instruction pointers at the time they were captured.
#include "collector/interning.h"
#include "trace/recording.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <unistd.h>

using namespace tidemark;
using namespace tidemark::collector;

namespace {

struct TrieFixture : ::testing::Test {
    void SetUp() override
    {
        path = std::filesystem::temp_directory_path() / ("tidemark_trie_" + std::to_string(::getpid()) + ".tmdb");
        auto created = trace::createRecording(path.string());
        ASSERT_TRUE(created);
        db = std::move(*created);
        out = std::make_unique<RowWriter>(db);
        ASSERT_TRUE(out->begin());
    }
    void TearDown() override
    {
        out.reset();
        std::filesystem::remove(path);
    }
    std::filesystem::path path;
    trace::Db db;
    std::unique_ptr<RowWriter> out;
};

TEST_F(TrieFixture, SharesPrefixesAndSeparatesEqualFramesUnderDifferentParents)
{
    ModuleInfo m;
    m.id = 1;
    m.bias = 0x1000;
    CallsiteTrie trie;
    int64_t fMain = trie.frame(&m, 0x1100, 1, *out);
    int64_t fA = trie.frame(&m, 0x1200, 1, *out);
    int64_t fB = trie.frame(&m, 0x1300, 1, *out);
    EXPECT_EQ(trie.frame(&m, 0x1200, 1, *out), fA); // same (module, rel_pc): same frame
    EXPECT_EQ(trie.frameCount(), 3u);

    int64_t main = trie.child(0, fMain, *out);
    int64_t a = trie.child(main, fA, *out);
    int64_t b = trie.child(a, fB, *out);
    EXPECT_EQ(trie.child(0, fMain, *out), main);
    EXPECT_EQ(trie.child(main, fA, *out), a);
    int64_t bUnderMain = trie.child(main, fB, *out); // same frame, another path: another callsite
    EXPECT_NE(bUnderMain, b);
    EXPECT_EQ(trie.callsiteCount(), 4u);
    ASSERT_TRUE(out->finish());

    auto stmt = db.prepare("SELECT id, coalesce(parent_id, 0), frame_id, depth FROM callsites ORDER BY id");
    ASSERT_TRUE(stmt);
    std::vector<std::array<int64_t, 4>> rows;
    while (stmt->step())
        rows.push_back({ stmt->int64(0), stmt->int64(1), stmt->int64(2), stmt->int64(3) });
    ASSERT_EQ(rows.size(), 4u);
    EXPECT_EQ(rows[0], (std::array<int64_t, 4> { main, 0, fMain, 0 }));
    EXPECT_EQ(rows[2], (std::array<int64_t, 4> { b, a, fB, 2 }));
    EXPECT_EQ(rows[3], (std::array<int64_t, 4> { bUnderMain, main, fB, 1 }));
}

TEST_F(TrieFixture, FramesOutsideEveryModuleAreKeptPerProcess)
{
    CallsiteTrie trie;
    int64_t p1 = trie.frame(nullptr, 0xdead, 1, *out);
    int64_t p2 = trie.frame(nullptr, 0xdead, 2, *out);
    EXPECT_NE(p1, p2);
    EXPECT_EQ(trie.frame(nullptr, 0xdead, 1, *out), p1);
    ASSERT_TRUE(out->finish());
    EXPECT_EQ(*db.queryInt("SELECT count(*) FROM frames WHERE module_id IS NULL AND rel_pc IS NULL AND ip = 57005"), 2);
}

TEST(ModuleMap, ResolvesAnAddressAgainstTheModuleLoadedAtThatTime)
{
    ModuleMap map;
    ModuleInfo first;
    first.id = 1;
    first.start = 0x1000;
    first.end = 0x2000;
    first.load_ts = 10;
    map.add(first);
    map.unload(first.bias, 50);
    ModuleInfo second = first;
    second.id = 2;
    second.load_ts = 60; // dlopen of another library at the same address
    map.add(second);

    EXPECT_EQ(map.find(0x1800, 20)->id, 1);
    EXPECT_EQ(map.find(0x1800, 70)->id, 2);
    EXPECT_EQ(map.find(0x1800, 5)->id, 1); // before any load: the first that ever held it
    EXPECT_EQ(map.find(0x2000, 20), nullptr);
}

} // namespace
