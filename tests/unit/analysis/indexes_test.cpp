// Recording::open adds the indexes `record` leaves out, once, and keeps them in the file; when it
// cannot write the file it reads it without them and answers the same.
#include "analysis/finalize.h"
#include "analysis/queries.h"
#include "analysis/recording.h"
#include "trace/recording.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <tuple>
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

// A large recording whose one space is the whole table is read in one pass per analysis without the
// indexes, so a report does not build them (they would cost more than they save); a small second
// space makes them pay, and the GUI asks for them always. The answers are the same either way.
TEST(IndexPolicyTest, BuiltWhenTheyPayAndAlwaysForTheViewer)
{
    const std::string path
        = (fs::temp_directory_path() / ("tm_index_policy_" + std::to_string(::getpid()) + ".tmdb")).string();
    auto dropIndexes = [&] { // as `record` leaves a recording
        auto db = trace::openRecording(path, trace::OpenMode::ReadWrite);
        ASSERT_TRUE(db);
        std::vector<std::string> names;
        auto st = db->prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL");
        while (st->step())
            names.push_back(st->text(0));
        for (const auto& n : names)
            ASSERT_TRUE(db->exec("DROP INDEX " + n));
    };
    auto indexed = [&] {
        auto db = trace::openRecording(path);
        auto has = trace::hasIndexes(*db);
        return has && *has;
    };
    {
        auto db = trace::createRecording(path);
        ASSERT_TRUE(db);
        ASSERT_TRUE(db->exec("INSERT INTO processes(id, pid) VALUES (1, 1); "
                             "INSERT INTO spaces(id, kind, name) VALUES (1, 'host', 'host')"));
        ASSERT_TRUE(db->exec("WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 149999) "
                             "INSERT INTO allocations(space_id, process_id, api, address, size_bytes, alloc_ts_ns, "
                             "free_ts_ns, source_mask) SELECT 1, 1, 1, 4096 + i * 64, 100 + i % 7, 1000 + i * 10, "
                             "CASE WHEN i % 10 = 0 THEN NULL ELSE 1000 + i * 10 + 5 + i % 3 * 20 END, 1 FROM n"));
        ASSERT_TRUE(analysis::finalizeRecording(*db));
    }
    dropIndexes();
    auto answers = [&](Recording::IndexPolicy policy) {
        auto rec = Recording::open(path, policy);
        EXPECT_TRUE(rec) << rec.error().message;
        auto s = analysis::summary(*rec);
        auto l = analysis::leaks(*rec, 1, {}, 10);
        auto c = analysis::churn(*rec, 1, {}, 10, 10);
        EXPECT_TRUE(s && l && c);
        return std::tuple { s->spaces.at(0).allocations, s->spaces.at(0).peakBytes, s->spaces.at(0).peakNs,
            rec->startNs(), rec->endNs(), l->liveAtEndBytes, c->temporaries, c->temporaryBytes };
    };
    auto without = answers(Recording::IndexPolicy::WhenUseful);
    EXPECT_FALSE(indexed()) << "one space that is the whole table: read in one pass, no indexes";
    EXPECT_EQ(std::get<0>(without), 150000);
    int64_t liveAtEnd = 0; // the rows with i % 10 == 0, of 100 + i % 7 bytes
    for (int64_t i = 0; i < 150000; i += 10)
        liveAtEnd += 100 + i % 7;
    EXPECT_EQ(std::get<5>(without), liveAtEnd);
    auto with = answers(Recording::IndexPolicy::Always);
    EXPECT_TRUE(indexed());
    EXPECT_EQ(without, with);

    dropIndexes();
    {
        auto db = trace::openRecording(path, trace::OpenMode::ReadWrite);
        ASSERT_TRUE(db);
        ASSERT_TRUE(db->exec("INSERT INTO spaces(id, kind, name) VALUES (2, 'device', 'cuda:0'); "
                             "INSERT INTO allocations(space_id, process_id, api, address, size_bytes, alloc_ts_ns, "
                             "source_mask) VALUES (2, 1, 1, 65536, 4096, 5000, 1)"));
        ASSERT_TRUE(analysis::finalizeRecording(*db));
    }
    dropIndexes();
    ASSERT_TRUE(Recording::open(path));
    EXPECT_TRUE(indexed()) << "a space that is a small part of the table: the indexes pay";
    fs::remove(path);
}

} // namespace
