// Checks docs/schema.md against the schema a new recording really has: every table, view and column
// in the SQL must be documented, and everything documented must exist; likewise the keys of the meta
// table against trace/meta_keys.h.
//
// The layout the check reads: a section `## name` (or `## a, b, c` for tables documented together)
// documents those tables or views; inside it, a Markdown table whose header starts with `column`
// lists columns, each row naming one or more columns in backticks in its first cell. A first cell
// starting with `name:` applies only to that table of a shared section. Other headings are prose.
#include "trace/meta_keys.h"
#include "trace/recording.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <unistd.h>

namespace fs = std::filesystem;
using namespace tidemark;
using namespace tidemark::trace;

namespace {

struct Relation {
    bool view = false;
    std::set<std::string> columns;
};
using Schema = std::map<std::string, Relation>;

bool isIdentifier(const std::string& s)
{
    static const std::regex kIdentifier("[a-z_][a-z0-9_]*");
    return std::regex_match(s, kIdentifier);
}

std::string trim(const std::string& s)
{
    size_t b = s.find_first_not_of(" \t");
    size_t e = s.find_last_not_of(" \t");
    return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

std::vector<std::string> split(const std::string& s, char sep)
{
    std::vector<std::string> parts;
    std::stringstream in(s);
    for (std::string part; std::getline(in, part, sep);)
        parts.push_back(trim(part));
    return parts;
}

// The cells of a Markdown table row `| a | b |` (no escaped pipes in this document).
std::vector<std::string> cells(const std::string& line)
{
    std::string inner = trim(line);
    inner = inner.substr(1, inner.size() - (inner.back() == '|' ? 2 : 1));
    return split(inner, '|');
}

// The tables and columns docs/schema.md documents (view = false: the doc does not say which is a
// view). Layout problems (a column name that is not an identifier) go to problems.
Schema parseDoc(const std::string& markdown, std::vector<std::string>& problems)
{
    Schema doc;
    std::vector<std::string> section; // the tables the current section documents
    bool inTable = false, columnTable = false, headerSeen = false;
    std::stringstream in(markdown);
    for (std::string line; std::getline(in, line);) {
        if (line.starts_with("#")) {
            section.clear();
            inTable = false;
            if (line.starts_with("## ")) {
                auto names = split(line.substr(3), ',');
                bool all = !names.empty();
                for (auto& n : names) {
                    if (n.size() > 2 && n.front() == '`' && n.back() == '`')
                        n = n.substr(1, n.size() - 2);
                    all = all && isIdentifier(n);
                }
                if (all)
                    section = names;
                for (const auto& n : section)
                    doc[n];
            }
            continue;
        }
        if (!trim(line).starts_with("|")) {
            inTable = false;
            continue;
        }
        auto row = cells(line);
        if (!inTable) {
            inTable = true;
            headerSeen = false;
            columnTable = !row.empty() && row[0] == "column";
            continue;
        }
        if (!headerSeen && !row.empty() && row[0].find_first_not_of("-: ") == std::string::npos) {
            headerSeen = true;
            continue;
        }
        if (!columnTable || section.empty() || row.empty())
            continue;
        std::string first = row[0];
        std::vector<std::string> tables = section;
        static const std::regex kPrefix("^([a-z_][a-z0-9_]*):(.*)$");
        if (std::smatch m; std::regex_match(first, m, kPrefix)
            && std::find(section.begin(), section.end(), m[1].str()) != section.end()) {
            tables = { m[1].str() };
            first = m[2].str();
        }
        static const std::regex kCode("`([^`]*)`");
        bool any = false;
        for (std::sregex_iterator it(first.begin(), first.end(), kCode), end; it != end; ++it) {
            std::string name = (*it)[1].str();
            any = true;
            if (!isIdentifier(name)) {
                problems.push_back("docs/schema.md: `" + name + "` in the column table of " + section[0]
                    + " is not a column name (write each column in its own backticks)");
                continue;
            }
            for (const auto& t : tables)
                doc[t].columns.insert(name);
        }
        if (!any)
            problems.push_back(
                "docs/schema.md: a row of the column table of " + section[0] + " names no column: " + line);
    }
    return doc;
}

// Everything one side has and the other lacks. A view's columns are compared only when the doc lists
// some (a view documented as "the rows of X where ..." has X's columns).
std::vector<std::string> compare(const Schema& sql, const Schema& doc)
{
    std::vector<std::string> problems;
    for (const auto& [name, rel] : sql) {
        const char* what = rel.view ? "view" : "table";
        auto d = doc.find(name);
        if (d == doc.end()) {
            problems.push_back(
                std::string(what) + " " + name + " is in the schema but has no section in docs/schema.md");
            continue;
        }
        if (rel.view && d->second.columns.empty())
            continue;
        for (const auto& c : rel.columns)
            if (!d->second.columns.contains(c))
                problems.push_back("column " + name + "." + c + " is in the schema but not documented");
        for (const auto& c : d->second.columns)
            if (!rel.columns.contains(c))
                problems.push_back("column " + name + "." + c + " is documented but not in the schema");
    }
    for (const auto& [name, rel] : doc)
        if (!sql.contains(name))
            problems.push_back("table " + name + " is documented but not in the schema");
    return problems;
}

Schema readSchema(Db& db)
{
    Schema schema;
    auto st = db.prepare(
        "SELECT name, type FROM sqlite_schema WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite_%'");
    EXPECT_TRUE(st) << st.error().message;
    if (!st)
        return schema;
    while (st->step())
        schema[st->text(0)].view = st->text(1) == "view";
    EXPECT_TRUE(st->status()) << st->status().error().message;
    for (auto& [name, rel] : schema) {
        auto cols = db.prepare("SELECT name FROM pragma_table_info(?)");
        EXPECT_TRUE(cols) << cols.error().message;
        if (!cols)
            continue;
        cols->bind(1, name);
        while (cols->step())
            rel.columns.insert(cols->text(0));
    }
    return schema;
}

std::string joined(const std::vector<std::string>& lines)
{
    std::string text;
    for (const auto& l : lines)
        text += "  " + l + "\n";
    return text;
}

} // namespace

TEST(SchemaDoc, EveryTableAndColumnIsDocumented)
{
    fs::path dir = fs::temp_directory_path() / ("tidemark_schema_doc_test_" + std::to_string(::getpid()));
    fs::create_directories(dir);
    auto db = createRecording((dir / "schema.tmdb").string());
    ASSERT_TRUE(db) << db.error().message;
    Schema sql = readSchema(*db);
    ASSERT_GE(sql.size(), 10u) << "a new recording should have the tables of trace/schema/";

    std::ifstream file(TIDEMARK_SCHEMA_DOC);
    ASSERT_TRUE(file) << "cannot read " << TIDEMARK_SCHEMA_DOC;
    std::stringstream text;
    text << file.rdbuf();
    std::vector<std::string> problems;
    Schema doc = parseDoc(text.str(), problems);
    for (const auto& p : compare(sql, doc))
        problems.push_back(p);
    EXPECT_TRUE(problems.empty()) << problems.size() << " differences between " << TIDEMARK_SCHEMA_DOC
                                  << " and trace/schema/:\n"
                                  << joined(problems);
    fs::remove_all(dir);
}

// The meta section of docs/schema.md: every key in backticks anywhere in it, and the first cells of
// its tables whose header is `key` (what it claims a writer writes).
struct MetaDoc {
    std::set<std::string> named, tabled;
};

MetaDoc parseMetaSection(const std::string& markdown)
{
    MetaDoc doc;
    bool inMeta = false, inTable = false, keyTable = false;
    static const std::regex kCode("`([^`]*)`");
    std::stringstream in(markdown);
    for (std::string line; std::getline(in, line);) {
        if (line.starts_with("#")) {
            inMeta = line == "## meta";
            inTable = false;
            continue;
        }
        if (!inMeta)
            continue;
        for (std::sregex_iterator it(line.begin(), line.end(), kCode), end; it != end; ++it)
            doc.named.insert((*it)[1].str());
        if (!trim(line).starts_with("|")) {
            inTable = false;
            continue;
        }
        auto row = cells(line);
        if (!inTable) {
            inTable = true;
            keyTable = !row.empty() && row[0] == "key";
            continue;
        }
        if (!keyTable || row.empty() || row[0].find_first_not_of("-: ") == std::string::npos)
            continue;
        for (std::sregex_iterator it(row[0].begin(), row[0].end(), kCode), end; it != end; ++it)
            doc.tabled.insert((*it)[1].str());
    }
    return doc;
}

TEST(SchemaDoc, EveryMetaKeyIsDocumented)
{
    std::ifstream file(TIDEMARK_SCHEMA_DOC);
    ASSERT_TRUE(file) << "cannot read " << TIDEMARK_SCHEMA_DOC;
    std::stringstream text;
    text << file.rdbuf();
    MetaDoc doc = parseMetaSection(text.str());
    ASSERT_FALSE(doc.tabled.empty()) << "no `key` table in the meta section of " << TIDEMARK_SCHEMA_DOC;
    std::set<std::string> keys;
    for (std::string_view k : kMetaKeys)
        keys.emplace(k);
    std::vector<std::string> problems;
    for (const auto& k : keys)
        if (!doc.named.contains(k))
            problems.push_back("meta key " + k + " (trace/meta_keys.h) is not documented");
    for (const auto& k : doc.tabled)
        if (!keys.contains(k))
            problems.push_back("meta key " + k + " is documented but not in trace/meta_keys.h");
    EXPECT_TRUE(problems.empty()) << joined(problems);
}

// The checker itself: a doc that lacks a column, a table and a view, and documents what does not
// exist, is reported in both directions; a shared section and a `table:` row are read as written.
TEST(SchemaDoc, CheckerReportsBothDirections)
{
    Schema sql;
    sql["a"].columns = { "id", "x" };
    sql["b"].columns = { "id", "y" };
    sql["c"].columns = { "id" };
    sql["v"] = { true, { "id", "x" } };
    const std::string markdown = "# Title\n\n## a, b\n\n| column | meaning |\n| --- | --- |\n| `id` | row id |\n"
                                 "| b: `y`, `z` | only b |\n\n## Prose heading\n\n| column | meaning |\n| --- | --- |\n"
                                 "| `ignored` | not in a schema section |\n\n## gone\n\nA removed table.\n";
    std::vector<std::string> problems;
    Schema doc = parseDoc(markdown, problems);
    EXPECT_TRUE(problems.empty()) << joined(problems);
    EXPECT_EQ(doc["a"].columns, (std::set<std::string> { "id" }));
    EXPECT_EQ(doc["b"].columns, (std::set<std::string> { "id", "y", "z" }));
    auto diff = compare(sql, doc);
    std::set<std::string> got(diff.begin(), diff.end());
    std::set<std::string> want = {
        "column a.x is in the schema but not documented",
        "column b.z is documented but not in the schema",
        "table c is in the schema but has no section in docs/schema.md",
        "view v is in the schema but has no section in docs/schema.md",
        "table gone is documented but not in the schema",
    };
    EXPECT_EQ(got, want) << joined(diff);

    problems.clear();
    parseDoc("## a\n\n| column | meaning |\n| --- | --- |\n| `grid_x/y/z` | shorthand |\n", problems);
    ASSERT_EQ(problems.size(), 1u);
    EXPECT_NE(problems[0].find("grid_x/y/z"), std::string::npos) << problems[0];
}
