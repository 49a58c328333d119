// Programs that fork 50 children, posix_spawn and vfork, allocate in signal handlers, at exit and in
// thread-local destructors, dlopen in a loop, or end threads early: every marker allocation the
// program says it made is in the recording, the program's status is its own, and nothing was lost.
#include "tests/e2e/shell.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>
#include <unistd.h>

using tidemark::test::shell;

namespace {

const std::string kCli = TIDEMARK_CLI_PATH;
const std::string kTarget = TIDEMARK_TORTURE_PATH;

struct Counted {
    long long expected = -1, recorded = -1, processes = -1;
    int status = -1;
};

Counted recordMode(const std::string& mode)
{
    std::string rec = std::string(::testing::TempDir()) + "/tm_torture_" + mode + "_" + std::to_string(getpid()) + ".tmdb";
    std::filesystem::remove(rec);
    Counted c;
    auto bare = shell(kTarget + " " + mode);
    auto r = shell(tidemark::test::recordCommand(kCli) + " -o " + rec + " -- " + kTarget + " " + mode + " 2>/dev/null");
    c.status = r.status;
    EXPECT_EQ(bare.status, r.status) << mode;
    auto at = r.out.find("expect ");
    if (at == std::string::npos) {
        ADD_FAILURE() << mode << ": no 'expect' line:\n" << r.out;
        return c;
    }
    c.expected = std::stoll(r.out.substr(at + 7));
    auto q = shell("sqlite3 " + rec + " 'SELECT count(*) FROM allocations WHERE size_bytes = 12345; SELECT count(*) FROM processes'");
    if (q.status != 0) {
        ADD_FAILURE() << "sqlite3: " << q.out;
        return c;
    }
    auto nl = q.out.find('\n');
    c.recorded = std::stoll(q.out.substr(0, nl));
    c.processes = std::stoll(q.out.substr(nl + 1));
    auto report = shell(kCli + " report --format json " + rec);
    EXPECT_EQ(0, report.status) << mode;
    auto j = nlohmann::json::parse(report.out, nullptr, false);
    for (const auto& loss : j["coverage"]["losses"])
        EXPECT_EQ("stacks_truncated", loss["name"]) << mode << ": " << loss.dump();
    EXPECT_FALSE(j["recording"]["cut_short"].get<bool>()) << mode;
    std::filesystem::remove(rec);
    return c;
}

class Torture : public ::testing::Test {
protected:
    void SetUp() override
    {
        if (shell("command -v sqlite3 >/dev/null").status != 0)
            GTEST_SKIP() << "the sqlite3 shell is needed";
    }
};

TEST_F(Torture, FiftyForkedChildrenAreAllRecorded)
{
    auto c = recordMode("fork50");
    EXPECT_EQ(0, c.status);
    EXPECT_EQ(150, c.expected);
    EXPECT_EQ(c.expected, c.recorded);
    EXPECT_EQ(51, c.processes);
}

TEST_F(Torture, PosixSpawnAndVforkKeepTheParentsEvents)
{
    auto c = recordMode("spawn");
    EXPECT_EQ(0, c.status);
    EXPECT_EQ(c.expected, c.recorded);
    EXPECT_GE(c.processes, 16); // the parent, 10 spawned shells, 5 vforked /bin/true
}

TEST_F(Torture, SignalHandlersThatAllocate)
{
    auto c = recordMode("signal");
    EXPECT_EQ(0, c.status);
    EXPECT_GE(c.expected, 50);
    EXPECT_EQ(c.expected, c.recorded);
}

TEST_F(Torture, AllocationsAtExitAndInThreadLocalDestructors)
{
    auto c = recordMode("exit-paths");
    EXPECT_EQ(0, c.status);
    EXPECT_EQ(16, c.expected);
    EXPECT_EQ(c.expected, c.recorded);
}

TEST_F(Torture, DlopenAndDlcloseInALoop)
{
    auto c = recordMode("dlopen");
    EXPECT_EQ(0, c.status);
    EXPECT_EQ(c.expected, c.recorded);
}

TEST_F(Torture, ThreadsThatEndWhileOthersAllocate)
{
    auto c = recordMode("threads");
    EXPECT_EQ(0, c.status);
    EXPECT_EQ(c.expected, c.recorded);
}

} // namespace
