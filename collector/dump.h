// A recording as stable text (memray's `dump` idea): every table, or one, with its columns and its
// rows sorted by all columns, so two recordings of the same events print the same. A debugging aid
// and the oracle of golden tests; kept next to the writer so the two stay symmetric.
#pragma once

#include "trace/result.h"
#include "trace/sqlite.h"

#include <cstdio>
#include <string>
#include <vector>

namespace tidemark::collector {

// Tables (and views when asked) of the recording, by name.
Result<std::vector<std::string>> recordingTables(trace::Db& db, bool withViews);

// Writes `table` (a table or a view), or every table when empty, to out. NotFound lists what exists.
Status dumpRecording(trace::Db& db, const std::string& table, FILE* out);

} // namespace tidemark::collector
