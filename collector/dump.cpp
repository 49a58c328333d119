// Text dump of a recording (see dump.h). Format per table:
//   == <name> (<n> rows)
//   <column>\t<column>...
//   <value>\t<value>...      NULL for SQL NULL; tab, newline and backslash escaped in text
#include "collector/dump.h"

namespace tidemark::collector {

namespace {

    std::string escaped(const std::string& s)
    {
        std::string out;
        out.reserve(s.size());
        for (char c : s) {
            switch (c) {
            case '\t':
                out += "\\t";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\r':
                out += "\\r";
                break;
            case '\\':
                out += "\\\\";
                break;
            default:
                out += c;
            }
        }
        return out;
    }

    // An SQL identifier: the names come from the file, so a quote inside one is doubled.
    std::string quoted(const std::string& name)
    {
        std::string out = "\"";
        for (char c : name)
            out += c == '"' ? std::string("\"\"") : std::string(1, c);
        return out + "\"";
    }

    Status dumpTable(trace::Db& db, const std::string& table, FILE* out)
    {
        auto count = db.queryInt("SELECT count(*) FROM " + quoted(table));
        if (!count)
            return count.error();
        auto probe = db.prepare("SELECT * FROM " + quoted(table) + " LIMIT 0");
        if (!probe)
            return probe.error();
        int columns = probe->columnCount();
        std::string order;
        for (int c = 1; c <= columns; ++c)
            order += (c > 1 ? "," : "") + std::to_string(c);
        auto stmt = db.prepare("SELECT * FROM " + quoted(table) + " ORDER BY " + order);
        if (!stmt)
            return stmt.error();
        std::fprintf(out, "== %s (%lld rows)\n", table.c_str(), static_cast<long long>(*count));
        for (int c = 0; c < columns; ++c)
            std::fprintf(out, "%s%s", c ? "\t" : "", stmt->columnName(c).c_str());
        std::fputc('\n', out);
        std::string line;
        while (stmt->step()) {
            line.clear();
            for (int c = 0; c < columns; ++c) {
                if (c)
                    line += '\t';
                line += stmt->isNull(c) ? std::string("NULL") : escaped(stmt->text(c));
            }
            line += '\n';
            std::fputs(line.c_str(), out);
        }
        return stmt->status();
    }

} // namespace

Result<std::vector<std::string>> recordingTables(trace::Db& db, bool withViews)
{
    auto stmt = db.prepare(std::string("SELECT name FROM sqlite_master WHERE type IN ('table'")
        + (withViews ? ", 'view'" : "") + ") AND name NOT LIKE 'sqlite_%' ORDER BY name");
    if (!stmt)
        return stmt.error();
    std::vector<std::string> names;
    while (stmt->step())
        names.push_back(stmt->text(0));
    if (!stmt->status())
        return stmt->status().error();
    return names;
}

Status dumpRecording(trace::Db& db, const std::string& table, FILE* out)
{
    auto names = recordingTables(db, !table.empty());
    if (!names)
        return names.error();
    if (!table.empty()) {
        for (const auto& n : *names)
            if (n == table)
                return dumpTable(db, n, out);
        std::string all;
        for (const auto& n : *names)
            all += (all.empty() ? "" : ", ") + n;
        return makeError(ErrorCode::NotFound, "the recording has no table '" + table + "'", "tables: " + all);
    }
    bool first = true;
    for (const auto& n : *names) {
        if (!first)
            std::fputc('\n', out);
        first = false;
        if (auto s = dumpTable(db, n, out); !s)
            return s;
    }
    return okStatus();
}

} // namespace tidemark::collector
