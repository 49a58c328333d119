// Tests of recording identity, migrations and typed open errors.
#include "trace/recording.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sqlite3.h>

namespace fs = std::filesystem;
using namespace tidemark;
using namespace tidemark::trace;

namespace {
fs::path tempPath(const std::string& name)
{
    fs::path dir = fs::temp_directory_path() / ("tidemark_trace_test_" + std::to_string(::getpid()));
    fs::create_directories(dir);
    return dir / name;
}
} // namespace

TEST(Recording, CreateSetsIdentityAndSchema)
{
    auto path = tempPath("create.tmdb");
    {
        auto db = createRecording(path.string());
        ASSERT_TRUE(db) << db.error().message;
        EXPECT_EQ(*db->queryInt("PRAGMA application_id"), kApplicationId);
        EXPECT_EQ(*db->queryInt("PRAGMA user_version"), currentSchemaVersion());
        EXPECT_GE(currentSchemaVersion(), 1);
        EXPECT_EQ(*db->queryInt("SELECT count(*) FROM apis WHERE name = 'cudaMalloc'"), 1);
        ASSERT_TRUE(setMeta(*db, "program", "./train"));
        auto id1 = internString(*db, "forward");
        auto id2 = internString(*db, "forward");
        ASSERT_TRUE(id1 && id2);
        EXPECT_EQ(*id1, *id2);
    }
    auto db = openRecording(path.string());
    ASSERT_TRUE(db) << db.error().message;
    EXPECT_EQ(*getMeta(*db, "program"), "./train");
    EXPECT_EQ(getMeta(*db, "absent").error().code, ErrorCode::NotFound);
    EXPECT_TRUE(createIndexes(*db).ok() == false) << "read-only connection must not be able to write";
}

TEST(Recording, MissingFileIsIoError)
{
    auto db = openRecording(tempPath("does-not-exist.tmdb").string());
    ASSERT_FALSE(db);
    EXPECT_EQ(db.error().code, ErrorCode::Io);
}

TEST(Recording, TextFileIsNotARecording)
{
    auto path = tempPath("text.tmdb");
    std::ofstream(path) << "hello, this is not a database at all, but it is long enough to have a header\n"
                        << std::string(200, 'x');
    auto db = openRecording(path.string());
    ASSERT_FALSE(db);
    EXPECT_EQ(db.error().code, ErrorCode::NotARecording);
}

TEST(Recording, EmptyFileIsNotARecording)
{
    auto path = tempPath("empty.tmdb");
    std::ofstream(path).flush();
    auto db = openRecording(path.string());
    ASSERT_FALSE(db);
    EXPECT_EQ(db.error().code, ErrorCode::NotARecording);
}

TEST(Recording, ForeignSqliteIsNotARecording)
{
    auto path = tempPath("foreign.sqlite");
    fs::remove(path);
    {
        auto db = Db::open(path.string(), Db::Mode::Create);
        ASSERT_TRUE(db);
        ASSERT_TRUE(db->exec("CREATE TABLE t(x); INSERT INTO t VALUES (1);"));
    }
    auto db = openRecording(path.string());
    ASSERT_FALSE(db);
    EXPECT_EQ(db.error().code, ErrorCode::NotARecording);
    EXPECT_NE(db.error().hint.find("tidemark import"), std::string::npos);
}

TEST(Recording, NewerSchemaNamesBothVersions)
{
    auto path = tempPath("newer.tmdb");
    {
        auto db = createRecording(path.string());
        ASSERT_TRUE(db);
        ASSERT_TRUE(db->exec("PRAGMA user_version = 999"));
    }
    auto db = openRecording(path.string());
    ASSERT_FALSE(db);
    EXPECT_EQ(db.error().code, ErrorCode::NewerSchema);
    EXPECT_NE(db.error().message.find("999"), std::string::npos);
    EXPECT_NE(db.error().message.find(std::to_string(currentSchemaVersion())), std::string::npos);
}

TEST(Recording, TruncatedFileIsCorrupt)
{
    auto path = tempPath("truncated.tmdb");
    {
        auto db = createRecording(path.string());
        ASSERT_TRUE(db);
        ASSERT_TRUE(db->exec("PRAGMA journal_mode = DELETE"));
        auto stmt = db->prepare("INSERT INTO strings(value) VALUES (?)");
        for (int i = 0; i < 5000; ++i)
            ASSERT_TRUE(stmt->bind(1, "string number " + std::to_string(i)).run());
    }
    auto size = fs::file_size(path);
    ASSERT_GT(size, 40000u);
    fs::resize_file(path, size / 2);
    auto db = openRecording(path.string());
    ASSERT_FALSE(db);
    EXPECT_EQ(db.error().code, ErrorCode::Corrupt) << db.error().message;
    EXPECT_NE(db.error().message.find("truncated"), std::string::npos);
}

TEST(Recording, OlderSchemaIsUpgradedOnReadWriteOpen)
{
    auto path = tempPath("older.tmdb");
    {
        auto db = createRecording(path.string());
        ASSERT_TRUE(db);
    }
    // With a single migration there is no older real schema yet; opening read-write must keep the
    // current version and succeed.
    auto db = openRecording(path.string(), OpenMode::ReadWrite);
    ASSERT_TRUE(db) << db.error().message;
    EXPECT_EQ(*db->queryInt("PRAGMA user_version"), currentSchemaVersion());
    EXPECT_TRUE(createIndexes(*db));
    EXPECT_EQ(*db->queryInt("SELECT count(*) FROM sqlite_master WHERE type='index' AND name='allocations_by_space_free'"), 1);
}
