// The secondary indexes are the writer's business: finalize adds them where they pay (always for an
// import, only when useful for `record`), and opening a recording never writes to it: not the
// indexes, not a journal, not its time stamp, and a file the reader cannot write opens.
#include "trace/finalize.h"
#include "analysis/queries.h"
#include "analysis/recording.h"
#include "analysis/report.h"
#include "tests/e2e/shell.h"
#include "trace/recording.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <sys/stat.h>
#include <sys/wait.h>
#include <tuple>
#include <unistd.h>

namespace fs = std::filesystem;
using namespace tidemark;
using trace::FinalizeOptions;
using analysis::Recording;

namespace {

bool hasIndexes(const std::string& path)
{
    auto db = trace::openRecording(path);
    EXPECT_TRUE(db);
    auto has = trace::hasIndexes(*db);
    EXPECT_TRUE(has);
    return has && *has;
}

// rows allocations in space 1 (every tenth never freed); with a second space, one more row there.
// Sealed as record and import leave it, or left in WAL mode as imports were before they were sealed.
void writeRecording(
    const std::string& path, int rows, bool secondSpace, FinalizeOptions::Indexes indexes, bool seal = true)
{
    fs::remove(path);
    auto db = trace::createRecording(path);
    ASSERT_TRUE(db);
    ASSERT_TRUE(db->exec("INSERT INTO processes(id, pid) VALUES (1, 1); "
                         "INSERT INTO spaces(id, kind, name) VALUES (1, 'host', 'host')"));
    ASSERT_TRUE(db->exec("WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < "
        + std::to_string(rows - 1)
        + ") INSERT INTO allocations(space_id, process_id, api, address, size_bytes, alloc_ts_ns, "
          "free_ts_ns, source_mask) SELECT 1, 1, 1, 4096 + i * 64, 100 + i % 7, 1000 + i * 10, "
          "CASE WHEN i % 10 = 0 THEN NULL ELSE 1000 + i * 10 + 5 + i % 3 * 20 END, 1 FROM n"));
    if (secondSpace)
        ASSERT_TRUE(db->exec("INSERT INTO spaces(id, kind, name) VALUES (2, 'device', 'cuda:0'); "
                             "INSERT INTO allocations(space_id, process_id, api, address, size_bytes, alloc_ts_ns, "
                             "source_mask) VALUES (2, 1, 1, 65536, 4096, 5000, 1)"));
    ASSERT_TRUE(trace::finalizeRecording(*db, {}, { indexes }));
    if (seal)
        ASSERT_TRUE(trace::sealRecording(*db));
}

auto answers(const std::string& path)
{
    auto rec = Recording::open(path);
    EXPECT_TRUE(rec) << rec.error().message;
    auto s = analysis::summary(*rec);
    auto l = analysis::leaks(*rec, 1, {}, 10);
    auto c = analysis::churn(*rec, 1, {}, 10, 10);
    EXPECT_TRUE(s && l && c);
    return std::tuple { s->spaces.at(0).allocations, s->spaces.at(0).peakBytes, s->spaces.at(0).peakNs, rec->startNs(),
        rec->endNs(), l->liveAtEndBytes, c->temporaries, c->temporaryBytes };
}

class IndexesTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        m_dir = fs::temp_directory_path() / ("tm_indexes_" + std::to_string(::getpid()));
        fs::create_directories(m_dir);
    }
    void TearDown() override
    {
        fs::permissions(m_dir, fs::perms::owner_all);
        fs::remove_all(m_dir);
    }
    std::string path(const char* name) const { return (m_dir / name).string(); }
    fs::path m_dir;
};

// A large recording whose one space is the whole table is read in one pass per analysis without the
// indexes, so `record` does not build them (they would cost more than they save); a small second
// space makes them pay. The answers are the same as with the indexes an import always builds.
TEST_F(IndexesTest, RecordBuildsThemWhereTheyPayAndTheAnswersAreTheSame)
{
    writeRecording(path("one.tmdb"), 150000, false, FinalizeOptions::Indexes::WhenUseful);
    EXPECT_FALSE(hasIndexes(path("one.tmdb"))) << "one space that is the whole table: read in one pass";
    writeRecording(path("one_indexed.tmdb"), 150000, false, FinalizeOptions::Indexes::Always);
    EXPECT_TRUE(hasIndexes(path("one_indexed.tmdb")));
    auto without = answers(path("one.tmdb"));
    EXPECT_EQ(std::get<0>(without), 150000);
    int64_t liveAtEnd = 0; // the rows with i % 10 == 0, of 100 + i % 7 bytes
    for (int64_t i = 0; i < 150000; i += 10)
        liveAtEnd += 100 + i % 7;
    EXPECT_EQ(std::get<5>(without), liveAtEnd);
    EXPECT_EQ(without, answers(path("one_indexed.tmdb")));

    writeRecording(path("two.tmdb"), 150000, true, FinalizeOptions::Indexes::WhenUseful);
    EXPECT_TRUE(hasIndexes(path("two.tmdb"))) << "a space that is a small part of the table: the indexes pay";
    writeRecording(path("small.tmdb"), 1000, false, FinalizeOptions::Indexes::WhenUseful);
    EXPECT_TRUE(hasIndexes(path("small.tmdb"))) << "a small recording: they cost little";
}

// Everything a report reads, on a file without indexes: afterwards the file is byte for byte and
// time stamp for time stamp what it was, and nothing was created beside it.
TEST_F(IndexesTest, OpeningAndReportingNeverWritesTheFile)
{
    for (bool sealed : { true, false }) {
        SCOPED_TRACE(sealed ? "sealed" : "left in WAL mode");
        const std::string file = path("run.tmdb");
        writeRecording(file, 150000, false, FinalizeOptions::Indexes::WhenUseful, sealed);
        ASSERT_FALSE(hasIndexes(file));
        const std::string before = test::readFile(file);
        struct stat st0 {};
        ASSERT_EQ(::stat(file.c_str(), &st0), 0);
        {
            auto rec = Recording::open(file);
            ASSERT_TRUE(rec) << rec.error().message;
            analysis::ReportOptions options;
            options.full = true;
            auto report = analysis::buildReport(*rec, options);
            ASSERT_TRUE(report) << report.error().message;
            const std::string text = analysis::renderText(*report);
            EXPECT_NE(text.find("150,000 allocations"), std::string::npos) << text;
        }
        struct stat st1 {};
        ASSERT_EQ(::stat(file.c_str(), &st1), 0);
        EXPECT_TRUE(test::readFile(file) == before) << "the recording's bytes changed";
        EXPECT_EQ(st0.st_mtim.tv_sec, st1.st_mtim.tv_sec);
        EXPECT_EQ(st0.st_mtim.tv_nsec, st1.st_mtim.tv_nsec);
        std::vector<std::string> names;
        for (const auto& e : fs::directory_iterator(m_dir))
            names.push_back(e.path().filename().string());
        EXPECT_EQ(names, std::vector<std::string> { "run.tmdb" }) << "a journal or index file was left beside it";
        fs::remove(file);
    }
}

// The file 0444 in a directory 0555, opened by a user who owns neither (a child that drops to
// nobody when the test runs as root, so the permissions bind).
TEST_F(IndexesTest, AReadOnlyFileInAReadOnlyDirectoryOpens)
{
    for (bool sealed : { true, false }) {
        SCOPED_TRACE(sealed ? "sealed" : "left in WAL mode");
        fs::permissions(m_dir, fs::perms::owner_all);
        const std::string file = path(sealed ? "sealed.tmdb" : "wal.tmdb");
        writeRecording(file, 2000, false, FinalizeOptions::Indexes::Always, sealed);
        const auto expected = answers(file);
        fs::permissions(file, fs::perms::owner_read | fs::perms::group_read | fs::perms::others_read);
        fs::permissions(m_dir,
            fs::perms::owner_read | fs::perms::owner_exec | fs::perms::group_read | fs::perms::group_exec
                | fs::perms::others_read | fs::perms::others_exec);
        pid_t child = fork();
        ASSERT_GE(child, 0);
        if (child == 0) { // no gtest assertions here: a failure must not run the rest of the suite twice
            if (::geteuid() == 0 && (::setgid(65534) != 0 || ::setuid(65534) != 0))
                _exit(3);
            if (::access(file.c_str(), W_OK) == 0 || ::access(m_dir.c_str(), W_OK) == 0)
                _exit(4); // the permissions would not bind: the test would prove nothing
            auto rec = Recording::open(file);
            if (!rec) {
                std::fprintf(stderr, "%s\n", rec.error().message.c_str());
                _exit(5);
            }
            auto s = analysis::summary(*rec);
            auto l = analysis::leaks(*rec, 1, {}, 10);
            bool same = s && l && s->spaces.at(0).allocations == std::get<0>(expected)
                && s->spaces.at(0).peakBytes == std::get<1>(expected) && l->liveAtEndBytes == std::get<5>(expected);
            _exit(same ? 0 : 6);
        }
        int status = 0;
        ASSERT_EQ(::waitpid(child, &status, 0), child);
        ASSERT_TRUE(WIFEXITED(status));
        EXPECT_EQ(WEXITSTATUS(status), 0)
            << "3: cannot drop to nobody, 4: writable, 5: does not open, 6: other answers";
    }
}

} // namespace
