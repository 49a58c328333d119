// Creating and opening recordings (.tmdb): the SQLite file's identity (application_id), its schema
// version (user_version), the embedded migrations, and typed errors for files that are not ours,
// are damaged, or come from a newer tidemark.
#pragma once

#include "trace/result.h"
#include "trace/sqlite.h"

#include <cstdint>
#include <string>
#include <string_view>

namespace tidemark::trace {

constexpr int32_t kApplicationId = 0x544D444B; // "TMDK"

// The schema version this build writes and reads (the number of the last migration).
int currentSchemaVersion();

// Creates a new recording at path (replacing any file there when overwrite is true), applies every
// migration and fills the `apis` table. The connection is tuned for bulk loading.
Result<Db> createRecording(const std::string& path, bool overwrite = true);

// The last step of every writer (record, import): leaves one self-contained file, with no -wal or
// -shm beside it, that a reader opens without writing, even from a read-only directory.
Status sealRecording(Db& db);

enum class OpenMode { ReadOnly, ReadWrite };

// Opens an existing recording. Errors: Io (missing/unreadable), NotARecording (not SQLite, or a
// foreign SQLite file), Corrupt (truncated or damaged), NewerSchema and OlderSchema (each names both
// versions; the older one's hint is `tidemark upgrade`). No open changes the file's schema.
Result<Db> openRecording(const std::string& path, OpenMode mode = OpenMode::ReadOnly);

// Brings a recording of an older schema to the current one: the migrations run on a copy beside it
// (PATH.upgrading), which replaces the file only when they all succeeded, so an interrupted or
// failed upgrade leaves the original as it was. A file at the current version is not touched.
// Returns the version the file had. Errors as openRecording (but never OlderSchema), and Io when
// the copy cannot be written or put in place.
Result<int> upgradeRecording(const std::string& path);

// Builds the indexes in schema/indexes.sql (idempotent); called after a recording is loaded.
Status createIndexes(Db& db);
// True when every index of schema/indexes.sql exists.
Result<bool> hasIndexes(Db& db);

// Reads and writes rows of the `meta` table.
Status setMeta(Db& db, std::string_view key, std::string_view value);
Result<std::string> getMeta(Db& db, std::string_view key); // NotFound when absent

// Interns a string in the `strings` table and returns its id.
Result<int64_t> internString(Db& db, std::string_view value);

} // namespace tidemark::trace
