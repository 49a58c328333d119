// Recording::open adds the indexes `record` leaves out, once, and keeps them in the file; when it
// cannot write the file it reads it without them and answers the same.
#include "analysis/queries.h"
#include "analysis/recording.h"
#include "trace/recording.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <unistd.h>

namespace fs = std::filesystem;
using namespace tidemark;
using analysis::Recording;

namespace {

class IndexesTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        m_path = (fs::temp_directory_path() / ("tm_indexes_" + std::to_string(::getpid()) + ".tmdb")).string();
        auto db = trace::createRecording(m_path);
        ASSERT_TRUE(db);
        ASSERT_TRUE(db->exec("INSERT INTO processes(id, pid) VALUES (1, 1); "
                             "INSERT INTO spaces(id, kind, name) VALUES (1, 'host', 'host')"));
        ASSERT_TRUE(db->exec("BEGIN"));
        for (int i = 0; i < 1000; ++i) {
            std::string free = i % 10 == 0 ? "NULL" : std::to_string(1000 + i * 10 + 5);
            ASSERT_TRUE(db->exec("INSERT INTO allocations(space_id, process_id, api, address, size_bytes, alloc_ts_ns, "
                                 "free_ts_ns, source_mask) VALUES (1, 1, 1, "
                + std::to_string(4096 + i * 64) + ", 100, " + std::to_string(1000 + i * 10) + ", " + free + ", 1)"));
        }
        ASSERT_TRUE(db->exec("COMMIT"));
        auto has = trace::hasIndexes(*db);
        ASSERT_TRUE(has);
        ASSERT_FALSE(*has); // as `record` leaves it
    }
    void TearDown() override { fs::remove(m_path); }

    bool indexed()
    {
        auto db = trace::openRecording(m_path);
        EXPECT_TRUE(db);
        auto has = trace::hasIndexes(*db);
        EXPECT_TRUE(has);
        return has && *has;
    }

    std::string m_path;
};

TEST_F(IndexesTest, TheFirstOpenBuildsThemAndKeepsThem)
{
    std::vector<std::string> told;
    Recording::setIndexingNotice([&](const std::string& path) { told.push_back(path); });
    {
        auto rec = Recording::open(m_path);
        ASSERT_TRUE(rec) << rec.error().message;
    }
    EXPECT_TRUE(indexed());
    ASSERT_EQ(told.size(), 1u);
    EXPECT_EQ(told[0], m_path);
    {
        auto rec = Recording::open(m_path); // already there: nothing to do, nothing said
        ASSERT_TRUE(rec);
    }
    EXPECT_EQ(told.size(), 1u);
    Recording::setIndexingNotice({});
}

TEST_F(IndexesTest, AFileItCannotWriteIsReadWithoutThemAndAnswersTheSame)
{
    // Another connection holds the write lock for longer than the open waits.
    auto holder = trace::openRecording(m_path, trace::OpenMode::ReadWrite);
    ASSERT_TRUE(holder);
    ASSERT_TRUE(holder->exec("BEGIN EXCLUSIVE"));
    analysis::Leaks without;
    {
        auto rec = Recording::open(m_path);
        ASSERT_TRUE(rec) << rec.error().message;
        auto l = analysis::leaks(*rec, 1, {}, 10);
        ASSERT_TRUE(l) << l.error().message;
        without = *l;
    }
    ASSERT_TRUE(holder->exec("ROLLBACK"));
    EXPECT_FALSE(indexed());
    auto rec = Recording::open(m_path);
    ASSERT_TRUE(rec);
    EXPECT_TRUE(indexed());
    auto with = analysis::leaks(*rec, 1, {}, 10);
    ASSERT_TRUE(with);
    EXPECT_EQ(without.liveAtEndCount, 100);
    EXPECT_EQ(without.liveAtEndBytes, 100 * 100);
    EXPECT_EQ(without.liveAtEndCount, with->liveAtEndCount);
    EXPECT_EQ(without.liveAtEndBytes, with->liveAtEndBytes);
}

} // namespace
