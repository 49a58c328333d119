// Tests of recording identity, migrations and typed open errors.
#include "trace/recording.h"
#include "trace/schema_sql.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sqlite3.h>
#include <unistd.h>
#include <vector>

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

namespace {

// A recording as `tidemark record` of schema version 1 left it: only the first migration, a thread
// whose name is the id of its text in `strings`, and the recorder named in meta. With recorder false,
// as an import of version 1 left it: the name is the text.
void writeVersion1(const fs::path& path, bool recorder)
{
    fs::remove(path);
    auto db = Db::open(path.string(), Db::Mode::Create);
    ASSERT_TRUE(db) << db.error().message;
    ASSERT_TRUE(db->exec("PRAGMA application_id = " + std::to_string(kApplicationId)));
    ASSERT_TRUE(db->exec(kMigrations[0]));
    ASSERT_TRUE(db->exec("PRAGMA user_version = 1"));
    ASSERT_TRUE(db->exec("INSERT INTO processes(id, pid) VALUES (1, 10);"
                         "INSERT INTO strings(id, value) VALUES (5, 'loader'), (6, 'x');"
                         "INSERT INTO threads(id, process_id, tid, name) VALUES (1, 1, 11, "
        + std::string(recorder ? "5" : "'loader'") + "), (2, 1, 12, NULL), (3, 1, 13, '6x');"));
    if (recorder)
        ASSERT_TRUE(db->exec("INSERT INTO meta(key, value) VALUES ('recorder', 'tidemark record')"));
}

std::vector<std::string> threadNames(const fs::path& path)
{
    auto db = openRecording(path.string());
    EXPECT_TRUE(db) << db.error().message;
    std::vector<std::string> names;
    if (!db)
        return names;
    auto st = db->prepare("SELECT coalesce(name, 'NULL') FROM threads ORDER BY id");
    while (st && st->step())
        names.push_back(st->text(0));
    return names;
}

} // namespace

TEST(Recording, AnOlderSchemaIsRefusedWithTheUpgradeCommandAndLeftAsItWas)
{
    ASSERT_GE(currentSchemaVersion(), 2);
    auto path = tempPath("older.tmdb");
    writeVersion1(path, true);
    const auto before = fs::file_size(path);
    for (OpenMode mode : { OpenMode::ReadOnly, OpenMode::ReadWrite }) {
        auto db = openRecording(path.string(), mode);
        ASSERT_FALSE(db);
        EXPECT_EQ(db.error().code, ErrorCode::OlderSchema);
        EXPECT_NE(db.error().message.find("schema version 1"), std::string::npos) << db.error().message;
        EXPECT_NE(db.error().message.find("version " + std::to_string(currentSchemaVersion())), std::string::npos);
        EXPECT_EQ(db.error().hint, "bring it to this version in place with: tidemark upgrade " + path.string());
    }
    auto raw = Db::open(path.string(), Db::Mode::ReadOnly);
    ASSERT_TRUE(raw);
    EXPECT_EQ(*raw->queryInt("PRAGMA user_version"), 1);
    EXPECT_EQ(fs::file_size(path), before);
}

TEST(Recording, UpgradeMigratesInPlaceAndGivesRecordedThreadsTheirNames)
{
    auto path = tempPath("upgrade.tmdb");
    writeVersion1(path, true);
    fs::permissions(path, fs::perms::owner_read | fs::perms::owner_write);
    auto from = upgradeRecording(path.string());
    ASSERT_TRUE(from) << from.error().message;
    EXPECT_EQ(*from, 1);
    EXPECT_FALSE(fs::exists(path.string() + ".upgrading"));
    EXPECT_FALSE(fs::exists(path.string() + "-wal"));
    EXPECT_EQ(fs::status(path).permissions() & fs::perms::all, fs::perms::owner_read | fs::perms::owner_write);
    // '6x' names no string: a name that only starts like an id is text and stays.
    EXPECT_EQ(threadNames(path), (std::vector<std::string> { "loader", "NULL", "6x" }));
    auto db = openRecording(path.string());
    ASSERT_TRUE(db);
    EXPECT_EQ(*db->queryInt("PRAGMA user_version"), currentSchemaVersion());
    EXPECT_EQ(*db->queryInt("PRAGMA application_id"), kApplicationId);

    // Again: already current, not rewritten.
    const auto mtime = fs::last_write_time(path);
    auto again = upgradeRecording(path.string());
    ASSERT_TRUE(again);
    EXPECT_EQ(*again, currentSchemaVersion());
    EXPECT_EQ(fs::last_write_time(path), mtime);
}

TEST(Recording, UpgradeLeavesAnImportsThreadNamesAsTheyWere)
{
    auto path = tempPath("upgrade_import.tmdb");
    writeVersion1(path, false);
    ASSERT_TRUE(upgradeRecording(path.string()));
    EXPECT_EQ(threadNames(path), (std::vector<std::string> { "loader", "NULL", "6x" }));
}

TEST(Recording, UpgradeRefusesWhatItCannotUpgradeAndLeavesTheFile)
{
    auto newer = tempPath("upgrade_newer.tmdb");
    {
        auto db = createRecording(newer.string());
        ASSERT_TRUE(db);
        ASSERT_TRUE(db->exec("PRAGMA user_version = 999"));
    }
    auto r = upgradeRecording(newer.string());
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ErrorCode::NewerSchema);

    auto foreign = tempPath("upgrade_foreign.db");
    {
        std::ofstream(foreign) << "not sqlite at all";
    }
    r = upgradeRecording(foreign.string());
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ErrorCode::NotARecording);

    // The copy cannot be written in a read-only directory: the error says so, the file is as it was.
    if (::geteuid() != 0) {
        auto dir = tempPath("readonly_dir");
        fs::create_directories(dir);
        auto path = dir / "old.tmdb";
        writeVersion1(path, true);
        fs::permissions(dir, fs::perms::owner_read | fs::perms::owner_exec);
        r = upgradeRecording(path.string());
        fs::permissions(dir, fs::perms::owner_all);
        ASSERT_FALSE(r);
        EXPECT_EQ(r.error().code, ErrorCode::Io) << r.error().message;
        EXPECT_NE(r.error().message.find(".upgrading"), std::string::npos) << r.error().message;
        auto raw = Db::open(path.string(), Db::Mode::ReadOnly);
        ASSERT_TRUE(raw);
        EXPECT_EQ(*raw->queryInt("PRAGMA user_version"), 1);
    }
}
