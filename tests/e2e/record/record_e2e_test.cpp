// End-to-end tests of `tidemark record` and `tidemark dump`: exit codes (the target's, 128 + signal,
// 127 when it cannot start, 2 for usage), cut-short recordings that stay valid, output naming, and
// real captured events checked against the ground truth record_target prints about itself.
#include "trace/recording.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <sys/wait.h>
#include <unistd.h>

namespace fs = std::filesystem;
using namespace tidemark;

namespace {

std::string buildDir()
{
    const char* b = std::getenv("TIDEMARK_BUILD_DIR");
    return b ? b : ".";
}

std::string slurp(const fs::path& p)
{
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

class RecordTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        m_dir = fs::temp_directory_path()
            / ("tidemark_record_e2e_" + std::to_string(::getpid()) + "_"
                + ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(m_dir);
        fs::create_directories(m_dir);
    }
    void TearDown() override
    {
        if (!HasFailure())
            fs::remove_all(m_dir);
    }

    // Runs `tidemark <args>` in the test directory; returns its exit code, keeps stdout and stderr.
    int tidemark(const std::string& args, const std::string& envPrefix = "")
    {
        std::string cmd = "cd '" + m_dir.string() + "' && " + envPrefix + " '" + buildDir() + "/bin/tidemark' " + args
            + " > stdout.txt 2> stderr.txt";
        int status = std::system(cmd.c_str());
        m_out = slurp(m_dir / "stdout.txt");
        m_err = slurp(m_dir / "stderr.txt");
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
    std::string target() const { return buildDir() + "/tests/bin/record_target"; }

    trace::Db open(const std::string& name)
    {
        auto db = trace::openRecording((m_dir / name).string());
        EXPECT_TRUE(db) << (db ? "" : db.error().message);
        return db ? std::move(*db) : trace::Db {};
    }
    static int64_t num(trace::Db& db, const std::string& sql)
    {
        auto v = db.queryInt(sql);
        EXPECT_TRUE(v) << sql << ": " << (v ? "" : v.error().message);
        return v ? *v : -1;
    }
    static std::string meta(trace::Db& db, const std::string& key)
    {
        auto v = trace::getMeta(db, key);
        return v ? *v : "<missing>";
    }

    fs::path m_dir;
    std::string m_out, m_err;
};

TEST_F(RecordTest, ExitsWithTheTargetsExitCode)
{
    EXPECT_EQ(tidemark("record -o zero.tmdb -- " + target() + " exit 0"), 0) << m_err;
    EXPECT_EQ(tidemark("record -o three.tmdb -- " + target() + " exit 3"), 3) << m_err;
    EXPECT_NE(m_err.find("recording written to three.tmdb"), std::string::npos) << m_err;
    auto db = open("three.tmdb");
    EXPECT_EQ(meta(db, "exit_status"), "3");
    EXPECT_EQ(meta(db, "cut_short"), "0");
    EXPECT_EQ(num(db, "SELECT count(*) FROM processes WHERE end_reason = 'exit'"), 1);
    // One self-contained file: no temporary name, no WAL or shared-memory file beside it.
    for (const auto& e : fs::directory_iterator(m_dir)) {
        std::string name = e.path().filename().string();
        EXPECT_EQ(name.find(".partial-"), std::string::npos) << name;
        EXPECT_FALSE(name.ends_with("-wal") || name.ends_with("-shm")) << name;
    }
}

TEST_F(RecordTest, AKilledTargetGives137AndAValidRecordingThatSaysCutShort)
{
    EXPECT_EQ(tidemark("record -o k.tmdb -- " + target() + " kill"), 137) << m_err;
    auto db = open("k.tmdb");
    EXPECT_EQ(meta(db, "cut_short"), "1");
    EXPECT_EQ(meta(db, "cut_short_reason").rfind("killed by SIGKILL", 0), 0u) << meta(db, "cut_short_reason");
    EXPECT_EQ(meta(db, "exit_signal"), "SIGKILL");
    EXPECT_NE(m_err.find("cut short: killed by SIGKILL"), std::string::npos) << m_err;
    // The allocations made 50 ms before the kill reached the recording.
    EXPECT_EQ(num(db, "SELECT count(*) FROM allocations WHERE size_bytes = 1000 AND free_ts_ns IS NULL"), 2);
    EXPECT_EQ(num(db, "SELECT count(*) FROM processes WHERE end_reason = 'cut_short'"), 1);
}

TEST_F(RecordTest, ACrashingTargetGives139AndSaysItCrashed)
{
    EXPECT_EQ(tidemark("record -o s.tmdb -- " + target() + " segv"), 139) << m_err;
    auto db = open("s.tmdb");
    EXPECT_EQ(meta(db, "cut_short_reason").rfind("crashed with SIGSEGV", 0), 0u) << meta(db, "cut_short_reason");
    EXPECT_EQ(num(db, "SELECT count(*) FROM allocations WHERE size_bytes = 1000"), 2);
}

TEST_F(RecordTest, ForwardsATerminationSignalToTheTarget)
{
    // SIGTERM sent to tidemark alone (as a batch system does) must reach the target and end it.
    std::ofstream(m_dir / "term.sh")
        << "'" << buildDir() << "/bin/tidemark' record -o term.tmdb -- " << target()
        << " sleep 2> stderr.txt &\npid=$!\nsleep 1\nkill -TERM $pid\nwait $pid\necho $? > rc.txt\n";
    auto start = std::chrono::steady_clock::now();
    std::system(("cd '" + m_dir.string() + "' && sh term.sh").c_str());
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20));
    EXPECT_EQ(slurp(m_dir / "rc.txt"), "143\n") << slurp(m_dir / "stderr.txt");
    auto db = open("term.tmdb");
    EXPECT_EQ(meta(db, "cut_short_reason").rfind("killed by SIGTERM", 0), 0u) << meta(db, "cut_short_reason");
}

TEST_F(RecordTest, RejectsBadArgumentsWithExitCode2)
{
    EXPECT_EQ(tidemark("record"), 2);
    EXPECT_NE(m_err.find("tidemark: error: no program to record"), std::string::npos) << m_err;
    EXPECT_EQ(tidemark("record --stack-depth many -- true"), 2);
    EXPECT_EQ(tidemark("record --stack-depth 999 -- true"), 2);
    EXPECT_EQ(tidemark("record --unwind magic -- true"), 2);
    EXPECT_EQ(tidemark("record --bogus -- true"), 2);
    EXPECT_NE(m_err.find("unknown option '--bogus'"), std::string::npos) << m_err;
    EXPECT_EQ(tidemark("record -o"), 2);
    EXPECT_EQ(tidemark("record -o /nonexistent-dir/x.tmdb -- true"), 2);
    EXPECT_EQ(tidemark("record --help"), 0);
    EXPECT_NE(m_out.find("--stack-depth"), std::string::npos);
}

TEST_F(RecordTest, SanitizerRuntimesTheUserPreloadsStayFirst)
{
    // libasan/libtsan must be the first library loaded; other preloads come after the capture library.
    EXPECT_EQ(tidemark("record -o pre.tmdb -- /bin/sh -c 'echo \"$LD_PRELOAD\"'",
                  "LD_PRELOAD='/nonexistent/libx.so /nonexistent/libtsan.so.2'"),
        0)
        << m_err;
    EXPECT_TRUE(m_out.starts_with("/nonexistent/libtsan.so.2:")) << m_out;
    EXPECT_TRUE(m_out.ends_with("libtidemark.so:/nonexistent/libx.so\n")) << m_out;
    EXPECT_NE(m_err.find("host allocations will not be seen"), std::string::npos) << m_err;
    EXPECT_EQ(tidemark("record -o pre2.tmdb -- /bin/true", "LD_PRELOAD=/nonexistent/libx.so"), 0);
    EXPECT_EQ(m_err.find("host allocations will not be seen"), std::string::npos) << m_err;
}

TEST_F(RecordTest, HelpAfterTheProgramIsTheProgramsOption)
{
    // `tidemark record python3 train.py --help` runs the script with --help; it was record's own help.
    EXPECT_EQ(tidemark("record -o help.tmdb /bin/echo --help -h"), 0) << m_err;
    EXPECT_EQ(m_out, "--help -h\n");
    EXPECT_TRUE(fs::exists(m_dir / "help.tmdb"));
    EXPECT_EQ(tidemark("record -o h2.tmdb -- /bin/echo x --help"), 0) << m_err;
    EXPECT_EQ(m_out, "x --help\n");
    EXPECT_EQ(tidemark("record -o h3.tmdb -h /bin/echo"), 0);
    EXPECT_NE(m_out.find("usage: tidemark record"), std::string::npos) << m_out;
    EXPECT_FALSE(fs::exists(m_dir / "h3.tmdb"));
}

TEST_F(RecordTest, ExplainsAMissingCaptureLibrary)
{
    // A tidemark binary copied away from its lib/tidemark/ directory.
    fs::create_directories(m_dir / "alone/bin");
    fs::copy_file(buildDir() + "/bin/tidemark", m_dir / "alone/bin/tidemark");
    int status = std::system(("cd '" + m_dir.string() + "' && alone/bin/tidemark record -- true 2> err.txt").c_str());
    EXPECT_EQ(WEXITSTATUS(status), 2);
    EXPECT_NE(slurp(m_dir / "err.txt").find("capture library is missing"), std::string::npos)
        << slurp(m_dir / "err.txt");
}

TEST_F(RecordTest, AProgramThatCannotStartGives127AndNoRecording)
{
    EXPECT_EQ(tidemark("record -o none.tmdb -- /nonexistent/program --flag"), 127);
    EXPECT_NE(m_err.find("tidemark: error: cannot start '/nonexistent/program'"), std::string::npos) << m_err;
    EXPECT_FALSE(fs::exists(m_dir / "none.tmdb"));
    EXPECT_EQ(tidemark("record -- no-such-program-in-path-xyz"), 127);
}

TEST_F(RecordTest, NamesTheOutputFromPidHostAndRank)
{
    ASSERT_EQ(tidemark("record -- " + target() + " exit 0"), 0) << m_err;
    std::string defaultName;
    for (const auto& e : fs::directory_iterator(m_dir))
        if (e.path().extension() == ".tmdb")
            defaultName = e.path().filename().string();
    ASSERT_EQ(defaultName.rfind("tidemark.record_target.", 0), 0u) << defaultName;
    auto db = open(defaultName);
    std::string pid = std::to_string(num(db, "SELECT pid FROM processes WHERE parent_id IS NULL"));
    EXPECT_EQ(defaultName, "tidemark.record_target." + pid + ".tmdb");

    char host[256] = {};
    gethostname(host, sizeof(host) - 1);
    ASSERT_EQ(tidemark("record -o 'run.%r.%h.%p.tmdb' -- " + target() + " exit 0", "RANK=3"), 0) << m_err;
    std::string named;
    for (const auto& e : fs::directory_iterator(m_dir))
        if (e.path().filename().string().rfind("run.3." + std::string(host) + ".", 0) == 0)
            named = e.path().filename().string();
    ASSERT_FALSE(named.empty()) << m_err;
    auto db2 = open(named);
    EXPECT_EQ(named, "run.3." + std::string(host) + "." + meta(db2, "pid") + ".tmdb");
    EXPECT_EQ(meta(db2, "rank"), "3");
    ASSERT_EQ(tidemark("record -o 'solo.%r.tmdb' -- " + target() + " exit 0",
                  "env -u RANK -u OMPI_COMM_WORLD_RANK -u PMI_RANK -u SLURM_PROCID"),
        0)
        << m_err;
    EXPECT_TRUE(fs::exists(m_dir / "solo.0.tmdb"));
}

TEST_F(RecordTest, RecordsAPlantedLeakWithItsFunctionName)
{
    ASSERT_EQ(tidemark("record -o leak.tmdb -- " + target() + " leak"), 0) << m_err;
    EXPECT_NE(m_out.find("leaked_blocks=3"), std::string::npos); // the target's own output is untouched
    auto db = open("leak.tmdb");
    EXPECT_EQ(num(db, "SELECT count(*) FROM allocations WHERE size_bytes = 1000 AND free_ts_ns IS NULL"), 3);
    EXPECT_EQ(num(db, "SELECT count(*) FROM allocations WHERE size_bytes = 100 AND free_ts_ns IS NOT NULL"), 10);
    // Every leaked block's stack passes through plantedLeak (walk the callsite trie to the root).
    EXPECT_EQ(num(db,
                  "WITH RECURSIVE path(alloc, cs) AS ("
                  "  SELECT id, callsite_id FROM allocations WHERE size_bytes = 1000 "
                  "  UNION ALL SELECT path.alloc, c.parent_id FROM path JOIN callsites c ON c.id = path.cs "
                  "  WHERE c.parent_id IS NOT NULL) "
                  "SELECT count(DISTINCT path.alloc) FROM path JOIN callsites c ON c.id = path.cs "
                  "JOIN symbols s ON s.frame_id = c.frame_id JOIN strings f ON f.id = s.function_id "
                  "WHERE f.value LIKE '%plantedLeak%'"),
        3);
    EXPECT_EQ(num(db,
                  "SELECT count(*) FROM frames f JOIN modules m ON m.id = f.module_id WHERE m.path LIKE "
                  "'%libtidemark.so'"),
        0);
    EXPECT_EQ(num(db, "SELECT value FROM capture_stats WHERE source = 'collector' AND name = 'unmatched_frees'"), 0);
}

TEST_F(RecordTest, RecordsThreadsForksAndExecsAsTheirOwnRows)
{
    ASSERT_EQ(tidemark("record -o t.tmdb -- " + target() + " threads"), 0) << m_err;
    auto t = open("t.tmdb");
    EXPECT_EQ(num(t, "SELECT count(*) FROM allocations WHERE size_bytes = 4242 AND free_ts_ns IS NOT NULL"), 400);
    EXPECT_EQ(num(t, "SELECT count(DISTINCT thread_id) FROM allocations WHERE size_bytes = 4242"), 4);
    EXPECT_EQ(
        num(t, "SELECT count(*) FROM allocations WHERE size_bytes BETWEEN 5000 AND 5003 AND free_ts_ns IS NULL"), 4);

    ASSERT_EQ(tidemark("record -o f.tmdb -- " + target() + " fork"), 0) << m_err;
    auto f = open("f.tmdb");
    EXPECT_EQ(num(f, "SELECT count(*) FROM processes"), 2);
    EXPECT_EQ(num(f, "SELECT count(*) FROM processes c JOIN processes p ON p.id = c.parent_id AND p.pid = c.ppid"), 1);
    EXPECT_EQ(num(f,
                  "SELECT count(*) FROM allocations a JOIN processes p ON p.id = a.process_id "
                  "WHERE p.parent_id IS NOT NULL AND a.size_bytes = 777 AND a.free_ts_ns IS NULL"),
        5);

    ASSERT_EQ(tidemark("record -o e.tmdb -- " + target() + " exec"), 0) << m_err;
    auto e = open("e.tmdb");
    EXPECT_EQ(num(e, "SELECT count(*) FROM processes"), 2);
    EXPECT_EQ(num(e, "SELECT count(*) FROM processes WHERE end_reason = 'exec'"), 1);
    EXPECT_EQ(num(e, "SELECT count(*) FROM processes c JOIN processes p ON p.id = c.parent_id AND p.pid = c.pid"), 1);
    EXPECT_EQ(num(e, "SELECT count(*) FROM allocations WHERE size_bytes = 1000 AND free_ts_ns IS NULL"), 3);
}

TEST_F(RecordTest, DumpPrintsStableTextAndRejectsUnreadableInput)
{
    ASSERT_EQ(tidemark("record -o d.tmdb -- " + target() + " leak"), 0) << m_err;
    ASSERT_EQ(tidemark("dump d.tmdb"), 0) << m_err;
    std::string all = m_out;
    EXPECT_NE(all.find("== allocations ("), std::string::npos);
    EXPECT_NE(all.find("== symbols ("), std::string::npos);
    EXPECT_EQ(all.find("== pool_regions"), std::string::npos); // views only on request
    ASSERT_EQ(tidemark("dump d.tmdb"), 0);
    EXPECT_EQ(m_out, all); // stable
    ASSERT_EQ(tidemark("dump d.tmdb --table processes"), 0);
    EXPECT_EQ(m_out.rfind("== processes (1 rows)\nid\tpid\tppid\tparent_id\texe\t", 0), 0u) << m_out;

    EXPECT_EQ(tidemark("dump d.tmdb --table nosuch"), 2);
    EXPECT_NE(m_err.find("no table 'nosuch'"), std::string::npos) << m_err;
    EXPECT_EQ(tidemark("dump missing.tmdb"), 2);
    EXPECT_EQ(m_err.rfind("tidemark: error: ", 0), 0u);
    std::ofstream(m_dir / "text.tmdb") << "hello, this is text\n";
    EXPECT_EQ(tidemark("dump text.tmdb"), 2);
    EXPECT_NE(m_err.find("not a tidemark recording"), std::string::npos) << m_err;
    {
        auto foreign = trace::Db::open((m_dir / "foreign.db").string(), trace::Db::Mode::Create);
        ASSERT_TRUE(foreign);
        ASSERT_TRUE(foreign->exec("CREATE TABLE t(a); INSERT INTO t VALUES (1)"));
    }
    EXPECT_EQ(tidemark("dump foreign.db"), 2);
    EXPECT_NE(m_err.find("not a tidemark recording"), std::string::npos) << m_err;
    fs::copy_file(m_dir / "d.tmdb", m_dir / "cut.tmdb");
    fs::resize_file(m_dir / "cut.tmdb", fs::file_size(m_dir / "cut.tmdb") / 2);
    EXPECT_EQ(tidemark("dump cut.tmdb"), 2);
    EXPECT_NE(m_err.find("truncated"), std::string::npos) << m_err;
    {
        auto newer = trace::Db::open((m_dir / "d.tmdb").string(), trace::Db::Mode::ReadWrite);
        ASSERT_TRUE(newer);
        ASSERT_TRUE(newer->exec("PRAGMA user_version = 999"));
    }
    EXPECT_EQ(tidemark("dump d.tmdb"), 2);
    EXPECT_NE(m_err.find("999"), std::string::npos) << m_err;
    EXPECT_EQ(std::count(m_err.begin(), m_err.end(), '\n') <= 2, true) << m_err; // one error line (+ hint)
    EXPECT_EQ(tidemark("dump"), 2);
}

} // namespace
