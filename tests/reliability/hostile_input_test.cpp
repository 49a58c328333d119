// Input built to break a reader: nesting that would overflow the stack, a small gzip that inflates to
// a gigabyte, and a record over an existing file. Each must end in one error line and exit 2 (or, for
// record, leave the file alone), within bounded time and memory.
#include "tests/e2e/shell.h"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

namespace fs = std::filesystem;
using tidemark::test::readFile;
using tidemark::test::shell;
using tidemark::test::writeFile;

namespace {

const std::string kCli = TIDEMARK_CLI_PATH;

std::string scratch(const std::string& name)
{
    std::string dir = std::string(::testing::TempDir()) + "/tm_reliability_" + std::to_string(getpid());
    fs::create_directories(dir);
    return dir + "/" + name;
}

// One kernel: the smallest trace the Kineto importer takes.
const std::string kTinyTrace
    = "{\"traceEvents\":[{\"ph\":\"X\",\"name\":\"k\",\"pid\":1,\"tid\":1,\"ts\":1,\"dur\":2,\"cat\":\"kernel\"}]}";

std::string nested(size_t depth, const std::string& prefix = "", const std::string& suffix = "")
{
    return prefix + std::string(depth, '[') + std::string(depth, ']') + suffix;
}

int lines(const std::string& s) { return static_cast<int>(std::count(s.begin(), s.end(), '\n')); }

// stderr only; exactly one "tidemark: error:" line (and at most one hint).
void expectOneErrorAndExit2(const std::string& cmd)
{
    auto r = shell(cmd + " 2>&1 >/dev/null");
    EXPECT_EQ(2, r.status) << cmd << "\n" << r.out;
    EXPECT_EQ(0u, r.out.find("tidemark: error: ")) << r.out;
    EXPECT_LE(lines(r.out), 2) << r.out;
}

TEST(HostileInput, TraceNested100000DeepIsRefusedNotACrash)
{
    std::string file = scratch("deep.json");
    writeFile(file, nested(100000, "{\"traceEvents\":", "}"));
    expectOneErrorAndExit2(kCli + " import " + file + " -o " + scratch("deep.tmdb"));
    EXPECT_FALSE(fs::exists(scratch("deep.tmdb")));
    // A real trace's nesting (events inside traceEvents, args inside events) still imports.
    std::string ok = scratch("shallow.json");
    writeFile(ok, "{\"traceEvents\":[{\"ph\":\"X\",\"name\":\"k\",\"pid\":1,\"tid\":1,\"ts\":1,\"dur\":2,"
                  "\"cat\":\"kernel\",\"args\":{\"a\":[[1,[2]]]}}]}");
    auto r = shell(kCli + " import -q " + ok + " -o " + scratch("shallow.tmdb") + " 2>&1");
    EXPECT_EQ(0, r.status) << r.out;
}

TEST(HostileInput, BudgetAndBaselineNestedDeepAreRefused)
{
    // A recording to check against: an import of a tiny trace is enough.
    std::string trace = scratch("t.json");
    writeFile(trace, kTinyTrace);
    std::string rec = scratch("t.tmdb");
    ASSERT_EQ(0, shell(kCli + " import -q " + trace + " -o " + rec).status);
    std::string budget = scratch("budget.json");
    writeFile(budget, nested(100000, "{\"version\":1,\"spaces\":", "}"));
    expectOneErrorAndExit2(kCli + " check " + rec + " --budget " + budget);
    std::string baseline = scratch("baseline.json");
    writeFile(baseline, nested(100000, "{\"format\":\"tidemark-baseline\",\"spaces\":", "}"));
    expectOneErrorAndExit2(kCli + " check " + rec + " --baseline " + baseline);
    expectOneErrorAndExit2(kCli + " diff " + baseline + " " + rec);
}

TEST(HostileInput, SmallGzipThatInflatesToAGigabyteStopsEarly)
{
    // 1 GiB of a trace's opening and then spaces, gzip -9 compressed to about 1 MB.
    std::string bomb = scratch("bomb.json.gz");
    ASSERT_EQ(0,
        shell("{ printf '{\"traceEvents\":['; head -c 1073741824 /dev/zero | tr '\\0' ' '; } | gzip -9 > " + bomb).status);
    auto compressed = fs::file_size(bomb);
    EXPECT_LT(compressed, 2u << 20);
    auto t0 = std::chrono::steady_clock::now();
    expectOneErrorAndExit2(kCli + " import " + bomb + " -o " + scratch("bomb.tmdb"));
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    rusage ru {};
    getrusage(RUSAGE_CHILDREN, &ru);
    // Read until 200x the input (about 200 MB here), not the whole gigabyte: about 2 s (33 s and
    // 3.15 GB before the bound), and a few hundred MB of memory (ru_maxrss: KiB, largest child so far).
    EXPECT_LT(seconds, 20.0);
    EXPECT_LT(ru.ru_maxrss, 700L * 1024) << "KiB";
    EXPECT_FALSE(fs::exists(scratch("bomb.tmdb")));
}

// A recording edited to contradict itself is reported, but named as inconsistent, with what and how
// many; the counts the report gives must be the ones SQL finds in the edited file.
TEST(HostileInput, ARecordingThatContradictsItselfIsNamedAsSuch)
{
    if (shell("command -v sqlite3 >/dev/null").status != 0)
        GTEST_SKIP() << "the sqlite3 shell is needed to edit the recording";
    std::string rec = scratch("edited.tmdb");
    ASSERT_EQ(0, shell(kCli + " record -o " + rec + " -- /bin/sh -c 'ls / >/dev/null; ls /usr >/dev/null' 2>/dev/null").status);
    auto sql = [&](const std::string& q) { return shell("sqlite3 " + rec + " \"" + q + "\"").out; };
    ASSERT_GE(std::stoll(sql("SELECT count(*) FROM allocations WHERE free_ts_ns IS NOT NULL")), 40);
    // Clean first: nothing to name.
    auto clean = shell(kCli + " report " + rec);
    ASSERT_EQ(0, clean.status);
    EXPECT_EQ(std::string::npos, clean.out.find("contradicts itself")) << clean.out;
    sql("UPDATE allocations SET size_bytes = -100 WHERE id IN (SELECT id FROM allocations ORDER BY id LIMIT 3);"
        "UPDATE allocations SET callsite_id = 999999999 WHERE id IN (SELECT id FROM allocations ORDER BY id LIMIT 2 OFFSET 10);"
        "UPDATE allocations SET free_ts_ns = alloc_ts_ns - 10 WHERE id IN "
        "(SELECT id FROM allocations WHERE free_ts_ns IS NOT NULL ORDER BY id LIMIT 4 OFFSET 20);"
        // A loop in the call-site tree, a call site whose frame is gone, and one whose parent is gone.
        "UPDATE callsites SET parent_id = id + 5 WHERE id IN (SELECT id FROM callsites WHERE parent_id IS NOT NULL "
        "ORDER BY id LIMIT 2);"
        "UPDATE callsites SET frame_id = 999999999 WHERE id IN (SELECT id FROM callsites ORDER BY id DESC LIMIT 1);"
        "UPDATE callsites SET parent_id = 999999998 WHERE id IN (SELECT id FROM callsites WHERE parent_id IS NOT NULL "
        "ORDER BY id DESC LIMIT 1 OFFSET 1);");
    auto n = [&](const std::string& where) { return std::stoll(sql("SELECT count(*) FROM allocations WHERE " + where)); };
    const long long negative = n("size_bytes < 0"), early = n("free_ts_ns < alloc_ts_ns"),
                    dangling = n("callsite_id IS NOT NULL AND callsite_id NOT IN (SELECT id FROM callsites)");
    const long long broken = std::stoll(sql("SELECT count(*) FROM callsites WHERE (parent_id IS NOT NULL AND (parent_id "
                                            ">= id OR parent_id NOT IN (SELECT id FROM callsites))) OR frame_id NOT IN "
                                            "(SELECT id FROM frames)"));
    ASSERT_GT(negative * early * dangling, 0);
    ASSERT_EQ(broken, 4);
    auto text = shell(kCli + " report " + rec);
    EXPECT_EQ(0, text.status) << text.out;
    auto first = text.out.find("  * ");
    ASSERT_NE(std::string::npos, first) << text.out;
    std::string headline = text.out.substr(first, text.out.find('\n', first) - first);
    EXPECT_NE(std::string::npos, headline.find("contradicts itself")) << headline;
    EXPECT_NE(std::string::npos, headline.find(std::to_string(negative) + " allocations with a negative size")) << headline;
    EXPECT_NE(std::string::npos, headline.find(std::to_string(early) + " frees before their allocation")) << headline;
    EXPECT_NE(std::string::npos, headline.find(std::to_string(dangling) + " allocations naming a missing call site"))
        << headline;
    auto json = shell(kCli + " report --format json " + rec).out;
    EXPECT_NE(std::string::npos, json.find("\"negative_sizes\": " + std::to_string(negative))) << json.substr(0, 3000);
    EXPECT_NE(std::string::npos, json.find("\"dangling_callsites\": " + std::to_string(dangling)));
    EXPECT_NE(std::string::npos, headline.find("4 call sites with a missing or looping parent or frame")) << headline;
    EXPECT_NE(std::string::npos, json.find("\"broken_callsites\": 4")) << json.substr(0, 3000);
    // The stacks still print (walks of a looping tree are bounded), and the full stack view too.
    EXPECT_EQ(0, shell(kCli + " report --stacks " + rec + " >/dev/null").status);
}

// A recording of schema version 1 as `record` wrote it (a thread's name stored as its strings id):
// every reader refuses it with the upgrade hint and leaves it as it is; `upgrade` migrates it, after
// which it reports and the thread has its name back.
TEST(HostileInput, AnOlderRecordingIsRefusedUntilUpgradedAndUpgradeIsExplicit)
{
    if (shell("command -v sqlite3 >/dev/null").status != 0)
        GTEST_SKIP() << "the sqlite3 shell is needed to edit the recording";
    std::string rec = scratch("older.tmdb");
    fs::remove(rec);
    ASSERT_EQ(0, shell(kCli + " record -o " + rec + " -- /bin/sh -c 'ls / >/dev/null' 2>/dev/null").status);
    auto sql = [&](const std::string& q) { return shell("sqlite3 " + rec + " \"" + q + "\"").out; };
    sql("INSERT INTO strings(value) VALUES ('renamed-worker');"
        "UPDATE threads SET name = (SELECT id FROM strings WHERE value = 'renamed-worker') "
        "WHERE id = (SELECT min(id) FROM threads);"
        "PRAGMA user_version = 1;");
    ASSERT_EQ("1\n", sql("PRAGMA user_version"));
    const std::string before = readFile(rec);
    for (const std::string& command : { "report", "check --max-peak 1GiB", "export --format chrome", "dump" }) {
        auto r = shell(kCli + " " + command + " " + rec + " 2>&1 >/dev/null");
        EXPECT_EQ(2, r.status) << command << "\n" << r.out;
        EXPECT_NE(std::string::npos, r.out.find("was written with schema version 1; this tidemark reads version 2"))
            << command << "\n" << r.out;
        EXPECT_NE(std::string::npos, r.out.find("hint: bring it to this version in place with: tidemark upgrade " + rec))
            << command << "\n" << r.out;
    }
    EXPECT_EQ(before, readFile(rec)) << "a reader changed the file";

    auto up = shell(kCli + " upgrade " + rec);
    EXPECT_EQ(0, up.status) << up.out;
    EXPECT_EQ(rec + ": upgraded from schema version 1 to 2\n", up.out);
    EXPECT_EQ("2\n", sql("PRAGMA user_version"));
    EXPECT_EQ("renamed-worker\n", sql("SELECT name FROM threads WHERE id = (SELECT min(id) FROM threads)"));
    EXPECT_FALSE(fs::exists(rec + ".upgrading"));
    EXPECT_EQ(0, shell(kCli + " report " + rec + " >/dev/null").status);
    auto again = shell(kCli + " upgrade " + rec);
    EXPECT_EQ(0, again.status);
    EXPECT_EQ(rec + ": already at schema version 2\n", again.out);
    expectOneErrorAndExit2(kCli + " upgrade " + scratch("missing.tmdb"));
    expectOneErrorAndExit2(kCli + " upgrade");
}

// Table names come from the file: `dump` must quote them as identifiers, not paste them into SQL.
TEST(HostileInput, TableNamesFromTheFileAreQuotedNotPastedIntoSql)
{
    if (shell("command -v sqlite3 >/dev/null").status != 0)
        GTEST_SKIP() << "the sqlite3 shell is needed to edit the recording";
    std::string rec = scratch("named.tmdb");
    ASSERT_EQ(0, shell(kCli + " record -o " + rec + " -- /bin/true 2>/dev/null").status);
    // A table whose name closes the quote and would read another table if pasted as it is.
    ASSERT_EQ(0, shell("sqlite3 " + rec + " 'CREATE TABLE \"x\"\" UNION SELECT value FROM meta --\" (v TEXT);"
                                         "INSERT INTO \"x\"\" UNION SELECT value FROM meta --\" VALUES (7)'")
                     .status);
    auto r = shell(kCli + " dump " + rec + " 2>&1");
    EXPECT_EQ(r.status, 0) << r.out;
    EXPECT_NE(r.out.find("== x\" UNION SELECT value FROM meta -- (1 rows)"), std::string::npos) << r.out;
}

TEST(RecordOutput, AnExistingFileIsNotReplacedWithoutForce)
{
    std::string out = scratch("keep.tmdb");
    writeFile(out, "not a recording, but the user's file");
    std::string marker = scratch("ran");
    auto r = shell(kCli + " record -o " + out + " -- /bin/sh -c 'touch " + marker + "' 2>&1");
    EXPECT_EQ(2, r.status) << r.out;
    EXPECT_NE(std::string::npos, r.out.find("--force")) << r.out;
    EXPECT_FALSE(fs::exists(marker)) << "the program ran although the output could not be written";
    EXPECT_EQ("not a recording, but the user's file", readFile(out));

    r = shell(kCli + " record --force -o " + out + " -- /bin/sh -c 'touch " + marker + "' 2>&1");
    EXPECT_EQ(0, r.status) << r.out;
    EXPECT_TRUE(fs::exists(marker));
    EXPECT_EQ(0, shell(kCli + " report " + out + " >/dev/null").status);
}

TEST(RecordOutput, AFileThatAppearsDuringTheRunIsKept)
{
    std::string out = scratch("appears.tmdb");
    std::string second = scratch("appears.1.tmdb");
    fs::remove(out);
    fs::remove(second);
    auto r = shell(kCli + " record -o " + out + " -- /bin/sh -c 'echo written by the program > " + out + "' 2>&1");
    EXPECT_EQ(0, r.status) << r.out;
    EXPECT_EQ("written by the program\n", readFile(out));
    EXPECT_NE(std::string::npos, r.out.find("recording written to " + second)) << r.out;
    EXPECT_EQ(0, shell(kCli + " report " + second + " >/dev/null").status);
}

TEST(ImportOutput, AnExistingFileIsNotReplacedWithoutForce)
{
    std::string trace = scratch("keep.json");
    writeFile(trace, kTinyTrace);
    std::string out = scratch("keep_import.tmdb");
    writeFile(out, "the user's file");
    expectOneErrorAndExit2(kCli + " import -q " + trace + " -o " + out);
    EXPECT_EQ("the user's file", readFile(out));
    auto r = shell(kCli + " import -q --force " + trace + " -o " + out + " 2>&1");
    EXPECT_EQ(0, r.status) << r.out;
    EXPECT_EQ(0, shell(kCli + " report " + out + " >/dev/null").status);
}

TEST(RecordOutput, RecordingsAreReadableByTheirOwnerOnly)
{
    std::string out = scratch("private.tmdb");
    ASSERT_EQ(0, shell("umask 022 && " + kCli + " record -o " + out + " -- /bin/true 2>/dev/null").status);
    struct stat st { };
    ASSERT_EQ(0, ::stat(out.c_str(), &st));
    EXPECT_EQ(0600u, st.st_mode & 0777u);
    std::string trace = scratch("p.json");
    writeFile(trace, kTinyTrace);
    std::string imported = scratch("p.tmdb");
    ASSERT_EQ(0, shell("umask 022 && " + kCli + " import -q " + trace + " -o " + imported).status);
    ASSERT_EQ(0, ::stat(imported.c_str(), &st));
    EXPECT_EQ(0600u, st.st_mode & 0777u);
}

} // namespace
