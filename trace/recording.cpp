// Recording files: identity checks, migrations and the `meta`/`strings` helpers.
#include "trace/recording.h"

#include "trace/enums.h"
#include "trace/schema_sql.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

namespace tidemark::trace {

int currentSchemaVersion() { return static_cast<int>(kMigrationCount); }

namespace {

Status applyMigrations(Db& db, int from)
{
    for (size_t i = static_cast<size_t>(from); i < kMigrationCount; ++i) {
        Transaction tx(db);
        if (auto s = db.exec(kMigrations[i]); !s)
            return makeError(s.error().code, "migration " + std::to_string(i + 1) + " failed: " + s.error().message);
        if (auto s = db.exec("PRAGMA user_version = " + std::to_string(i + 1)); !s)
            return s;
        if (auto s = tx.commit(); !s)
            return s;
    }
    return okStatus();
}

Status fillApis(Db& db)
{
    auto stmt = db.prepare("INSERT OR REPLACE INTO apis(id, name) VALUES (?, ?)");
    if (!stmt)
        return stmt.error();
    for (uint16_t i = 0; i < kApiMax; ++i) {
        auto name = apiName(static_cast<Api>(i));
        if (i != 0 && name == "unknown")
            continue;
        if (auto s = stmt->bind(1, static_cast<int64_t>(i)).bind(2, name).run(); !s)
            return s;
    }
    return okStatus();
}

// SQLite's header stores the database size in pages at offset 28 (valid when the
// version-valid-for number at 92 matches the change counter at 24). A file shorter than that
// was truncated: report it at open rather than as a random query failure later. Returns whether
// the file is in WAL mode (its read and write versions at 18 and 19 are 2).
Result<bool> checkHeader(const std::string& path)
{
    FILE* f = std::fopen(path.c_str(), "rb");
    if (!f)
        return makeError(ErrorCode::Io, "cannot open " + path + ": " + std::strerror(errno));
    unsigned char hdr[100];
    size_t n = std::fread(hdr, 1, sizeof(hdr), f);
    std::fseek(f, 0, SEEK_END);
    long fileSize = std::ftell(f);
    std::fclose(f);
    static const char kMagic[] = "SQLite format 3";
    if (n < sizeof(hdr) || std::memcmp(hdr, kMagic, sizeof(kMagic)) != 0) {
        if (n == 0)
            return makeError(ErrorCode::NotARecording, path + " is empty, not a tidemark recording");
        return makeError(ErrorCode::NotARecording, path + " is not a tidemark recording (not an SQLite file)");
    }
    auto be32 = [&](int off) {
        return (uint32_t(hdr[off]) << 24) | (uint32_t(hdr[off + 1]) << 16) | (uint32_t(hdr[off + 2]) << 8)
            | uint32_t(hdr[off + 3]);
    };
    uint32_t pageSize = (uint32_t(hdr[16]) << 8) | hdr[17];
    if (pageSize == 1)
        pageSize = 65536;
    uint32_t pages = be32(28);
    if (pages != 0 && be32(24) == be32(92) && pageSize >= 512) {
        uint64_t expected = uint64_t(pages) * pageSize;
        if (static_cast<uint64_t>(fileSize) < expected)
            return makeError(ErrorCode::Corrupt,
                path + " is truncated: " + std::to_string(fileSize) + " bytes of " + std::to_string(expected),
                "the recording was cut short while being copied or written; record again");
    }
    return hdr[18] == 2 && hdr[19] == 2;
}

} // namespace

Result<Db> createRecording(const std::string& path, bool overwrite)
{
    if (overwrite) {
        for (const char* suffix : { "", "-wal", "-shm", "-journal" }) {
            std::string p = path + suffix;
            if (::unlink(p.c_str()) != 0 && errno != ENOENT)
                return makeError(ErrorCode::Io, "cannot replace " + p + ": " + std::strerror(errno));
        }
    }
    // Recordings hold command lines, paths and what the program's environment shaped: readable by
    // their owner only. SQLite gives its -wal and -shm files the main file's mode, so creating the
    // (empty, hence valid) database file first with 0600 covers all three.
    if (int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600); fd >= 0)
        ::close(fd);
    auto db = Db::open(path, Db::Mode::Create);
    if (!db)
        return db.error();
    for (const char* pragma : { "PRAGMA page_size = 8192", "PRAGMA journal_mode = WAL", "PRAGMA synchronous = OFF",
             "PRAGMA cache_size = -65536", "PRAGMA temp_store = MEMORY" }) {
        if (auto s = db->exec(pragma); !s)
            return s.error();
    }
    if (auto s = db->exec("PRAGMA application_id = " + std::to_string(kApplicationId)); !s)
        return s.error();
    if (auto s = applyMigrations(*db, 0); !s)
        return s.error();
    if (auto s = fillApis(*db); !s)
        return s.error();
    return db;
}

Status sealRecording(Db& db) { return db.exec("PRAGMA journal_mode = DELETE"); }

namespace {

// openRecording's checks; an older schema is an error unless allowOlder (for upgradeRecording), and
// the version read is left in *version.
Result<Db> openChecked(const std::string& path, OpenMode mode, bool allowOlder, int* version)
{
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0)
        return makeError(ErrorCode::Io, "cannot open " + path + ": " + std::strerror(errno));
    if (S_ISDIR(st.st_mode))
        return makeError(ErrorCode::Io, path + " is a directory, not a recording");
    auto wal = checkHeader(path);
    if (!wal)
        return wal.error();
    // Reading a WAL-mode file (an import before they were sealed, a copy of a partial recording)
    // would create -wal and -shm files beside it, and fails in a read-only directory. With no -wal
    // file there is nothing beyond the main file to read, so it is opened as immutable.
    Db::Mode dbMode = mode == OpenMode::ReadOnly ? Db::Mode::ReadOnly : Db::Mode::ReadWrite;
    struct stat walSt {};
    if (*wal && mode == OpenMode::ReadOnly && ::stat((path + "-wal").c_str(), &walSt) != 0)
        dbMode = Db::Mode::Immutable;
    auto db = Db::open(path, dbMode);
    if (!db)
        return db.error();
    auto appId = db->queryInt("PRAGMA application_id");
    if (!appId) {
        Error e = appId.error();
        if (e.code == ErrorCode::NotARecording)
            e.message = path + " is not a tidemark recording (not an SQLite file)";
        return e;
    }
    if (*appId != kApplicationId) {
        return makeError(ErrorCode::NotARecording, path + " is an SQLite file but not a tidemark recording",
            "to bring in another tool's file use: tidemark import " + path + " -o OUT.tmdb");
    }
    auto userVersion = db->queryInt("PRAGMA user_version");
    if (!userVersion)
        return userVersion.error();
    *version = static_cast<int>(*userVersion);
    if (*version > currentSchemaVersion()) {
        return makeError(ErrorCode::NewerSchema,
            path + " was written with schema version " + std::to_string(*version) + "; this tidemark reads up to version "
                + std::to_string(currentSchemaVersion()),
            "upgrade tidemark to read this recording");
    }
    if (*version < 1)
        return makeError(ErrorCode::Corrupt, path + " has a tidemark id but no schema (user_version 0)");
    if (*version < currentSchemaVersion() && !allowOlder) {
        return makeError(ErrorCode::OlderSchema,
            path + " was written with schema version " + std::to_string(*version) + "; this tidemark reads version "
                + std::to_string(currentSchemaVersion()),
            "bring it to this version in place with: tidemark upgrade " + path);
    }
    // Touch the schema so a damaged file fails here rather than in the middle of a report.
    auto tables = db->queryInt("SELECT count(*) FROM sqlite_master");
    if (!tables) {
        Error e = tables.error();
        e.message = path + " is damaged: " + e.message;
        return e;
    }
    return db;
}

} // namespace

Result<Db> openRecording(const std::string& path, OpenMode mode)
{
    int version = 0;
    return openChecked(path, mode, false, &version);
}

Result<int> upgradeRecording(const std::string& path)
{
    int version = 0;
    const std::string copy = path + ".upgrading";
    {
        auto db = openChecked(path, OpenMode::ReadOnly, true, &version);
        if (!db)
            return db.error();
        if (version == currentSchemaVersion())
            return version;
        // VACUUM INTO reads through a -wal file too, and writes a compact file with the same
        // application_id and user_version.
        ::unlink(copy.c_str());
        auto vacuum = db->prepare("VACUUM INTO ?");
        if (!vacuum)
            return vacuum.error();
        if (auto s = vacuum->bind(1, copy).run(); !s)
            return makeError(ErrorCode::Io, "cannot write the upgraded copy " + copy + ": " + s.error().message);
    }
    const auto abandon = [&](const Error& e) -> Result<int> {
        ::unlink(copy.c_str());
        return e;
    };
    {
        auto db = Db::open(copy, Db::Mode::ReadWrite);
        if (!db)
            return abandon(db.error());
        if (auto s = applyMigrations(*db, version); !s)
            return abandon(s.error());
        if (auto s = sealRecording(*db); !s)
            return abandon(s.error());
    }
    // The copy keeps the original's permissions (a recording is its owner's only by default).
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0)
        ::chmod(copy.c_str(), st.st_mode & 07777);
    if (::rename(copy.c_str(), path.c_str()) != 0)
        return abandon(makeError(ErrorCode::Io, "cannot put the upgraded copy in place of " + path + ": " + std::strerror(errno)));
    return version;
}

Status createIndexes(Db& db) { return db.exec(kIndexesSql); }

Result<bool> hasIndexes(Db& db)
{
    // The names come from indexes.sql itself: "CREATE INDEX IF NOT EXISTS <name> ON ...".
    const std::string_view sql = kIndexesSql;
    const std::string_view marker = "CREATE INDEX IF NOT EXISTS ";
    auto stmt = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?");
    if (!stmt)
        return stmt.error();
    for (size_t at = sql.find(marker); at != std::string_view::npos; at = sql.find(marker, at + 1)) {
        size_t start = at + marker.size();
        std::string_view name = sql.substr(start, sql.find(' ', start) - start);
        stmt->bind(1, name);
        bool present = stmt->step();
        if (!stmt->status())
            return stmt->status().error();
        stmt->reset();
        if (!present)
            return false;
    }
    return true;
}

Status setMeta(Db& db, std::string_view key, std::string_view value)
{
    auto stmt = db.prepare("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)");
    if (!stmt)
        return stmt.error();
    return stmt->bind(1, key).bind(2, value).run();
}

Result<std::string> getMeta(Db& db, std::string_view key)
{
    auto stmt = db.prepare("SELECT value FROM meta WHERE key = ?");
    if (!stmt)
        return stmt.error();
    stmt->bind(1, key);
    if (!stmt->step()) {
        if (!stmt->status())
            return stmt->status().error();
        return makeError(ErrorCode::NotFound, "no meta key " + std::string(key));
    }
    return stmt->text(0);
}

Result<int64_t> internString(Db& db, std::string_view value)
{
    auto ins = db.prepare("INSERT OR IGNORE INTO strings(value) VALUES (?)");
    if (!ins)
        return ins.error();
    if (auto s = ins->bind(1, value).run(); !s)
        return s.error();
    auto sel = db.prepare("SELECT id FROM strings WHERE value = ?");
    if (!sel)
        return sel.error();
    sel->bind(1, value);
    if (!sel->step())
        return makeError(ErrorCode::Corrupt, "string vanished after insert");
    return sel->int64(0);
}

} // namespace tidemark::trace
