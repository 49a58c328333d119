// The embedded schema (generated into schema_sql.cpp from trace/schema/*.sql at build time).
#pragma once

#include <cstddef>

namespace tidemark::trace {

extern const char* const kMigrations[];
extern const size_t kMigrationCount;
extern const char* const kIndexesSql;

} // namespace tidemark::trace
