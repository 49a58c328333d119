// A full disk under the spool or under the output, and an output directory that cannot be written.
// The full disks are small tmpfs mounts in a private mount namespace (unshare -rm: no root needed
// where user namespaces are allowed; skipped where they are not). In every case the program runs to
// its end with its own output and exit status, and tidemark says what it lost.
#include "tests/e2e/shell.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <unistd.h>

using tidemark::test::shell;

namespace {

const std::string kCli = TIDEMARK_CLI_PATH;
const std::string kTarget = TIDEMARK_TORTURE_PATH;
const std::string kProgram = kTarget + " load 2 200000"; // about 30 MB of spool

class DiskFull : public ::testing::Test {
protected:
    void SetUp() override
    {
        m_dir = std::string(::testing::TempDir()) + "/tm_diskfull_" + std::to_string(getpid());
        std::filesystem::create_directories(m_dir + "/small");
        if (shell("unshare -rm sh -c 'mount -t tmpfs -o size=1m tmpfs " + m_dir + "/small' 2>&1").status != 0)
            GTEST_SKIP() << "cannot mount a small file system here (no user or mount namespaces)";
        m_bare = shell(kProgram);
        ASSERT_EQ(m_bare.status, 0) << m_bare.out;
    }
    void TearDown() override { std::filesystem::remove_all(m_dir); }

    // Runs script inside a private mount namespace where m_dir/small is a tmpfs of `size` (mounted
    // read-only with readOnly); stdout and stderr apart.
    tidemark::test::Capture inNamespace(const std::string& size, const std::string& script, bool readOnly = false)
    {
        std::string opts = "size=" + size + (readOnly ? ",ro" : "");
        return shell("unshare -rm sh -c 'mount -t tmpfs -o " + opts + " tmpfs " + m_dir + "/small && " + script + "' 2>"
            + m_dir + "/stderr");
    }
    std::string stderrText() { return tidemark::test::readFile(m_dir + "/stderr"); }

    std::string m_dir;
    tidemark::test::Capture m_bare;
};

TEST_F(DiskFull, FullSpoolDiskStopsCaptureAndTheRecordingSaysWhenAndWhy)
{
    const std::string rec = m_dir + "/spoolfull.tmdb";
    auto r = inNamespace("3m", "TMPDIR=" + m_dir + "/small " + kCli + " record -o " + rec + " -- " + kProgram);
    EXPECT_EQ(r.status, 0) << stderrText();
    EXPECT_EQ(r.out, m_bare.out) << "the program's output";
    ASSERT_TRUE(std::filesystem::exists(rec)) << stderrText();
    auto report = shell(kCli + " report " + rec);
    ASSERT_EQ(report.status, 0) << report.out;
    EXPECT_NE(report.out.find("capture stopped"), std::string::npos) << report.out;
    EXPECT_NE(report.out.find("No space left on device"), std::string::npos) << report.out;
    EXPECT_NE(report.out.find("CUT SHORT"), std::string::npos) << report.out;
    auto q = shell("sqlite3 " + rec + " 'SELECT count(*) FROM allocations WHERE size_bytes BETWEEN 7001 AND 7016'");
    EXPECT_GT(std::stoll(q.out), 1000) << "what came before the disk filled is kept";
}

TEST_F(DiskFull, FullOutputDiskKeepsTheProgramsStatusAndLeavesNoPartialFile)
{
    const std::string rec = m_dir + "/small/out.tmdb";
    auto r = inNamespace("2m", kCli + " record -o " + rec + " -- " + kProgram + "; echo status=$?; ls -A " + m_dir + "/small");
    EXPECT_NE(r.out.find(m_bare.out + "status=0\n"), std::string::npos) << r.out << stderrText();
    EXPECT_EQ(r.out.substr(r.out.find("status=0\n") + 9), "") << "files left on the full disk";
    EXPECT_NE(stderrText().find("could not write the recording " + rec), std::string::npos) << stderrText();
    EXPECT_NE(stderrText().find("disk is full"), std::string::npos) << stderrText();
}

TEST_F(DiskFull, UnwritableOutputIsRefusedBeforeTheProgramStarts)
{
    const std::string rec = m_dir + "/small/out.tmdb";
    const std::string marker = m_dir + "/started";
    auto r = inNamespace("1m", kCli + " record -o " + rec + " -- sh -c \"touch " + marker + "\"; echo status=$?", true);
    EXPECT_NE(r.out.find("status=2"), std::string::npos) << r.out << stderrText();
    EXPECT_FALSE(std::filesystem::exists(marker)) << "the program was started";
    EXPECT_NE(stderrText().find("tidemark: error:"), std::string::npos) << stderrText();
}

} // namespace
