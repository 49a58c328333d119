// The profiled program behaves as it does bare: the same standard output, the same standard error
// (less tidemark's own "tidemark:" lines), the same exit status, with input on stdin, signal
// handlers, a signal death, and descriptors 0-2 closed or redirected. Each case runs bare and under
// `tidemark record`, and the recording must have lost nothing.
#include "tests/e2e/shell.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>
#include <unistd.h>

namespace fs = std::filesystem;
using tidemark::test::readFile;
using tidemark::test::shell;
using tidemark::test::writeFile;

namespace {

const std::string kCli = TIDEMARK_CLI_PATH;

struct Outcome {
    int status = -1;
    std::string out, err, file; // file: what the program wrote to the file named by @FILE@
};

std::string scratchDir()
{
    std::string dir = std::string(::testing::TempDir()) + "/tm_unchanged_" + std::to_string(getpid());
    fs::create_directories(dir);
    return dir;
}

std::string withoutTidemarkLines(const std::string& text)
{
    std::string out;
    for (size_t at = 0; at < text.size();) {
        auto nl = text.find('\n', at);
        std::string line = text.substr(at, nl == std::string::npos ? std::string::npos : nl - at + 1);
        at = nl == std::string::npos ? text.size() : nl + 1;
        if (line.rfind("tidemark: ", 0) != 0 && line.rfind("hint: ", 0) != 0)
            out += line;
    }
    return out;
}

// stdin feeds the program; program is a shell command line in which @FILE@ names a scratch file.
Outcome runOnce(const std::string& name, const std::string& stdinText, std::string program, bool recorded)
{
    std::string dir = scratchDir();
    std::string tag = name + (recorded ? "_rec" : "_bare");
    std::string file = dir + "/" + tag + ".file", in = dir + "/" + tag + ".in", err = dir + "/" + tag + ".err";
    for (size_t p; (p = program.find("@FILE@")) != std::string::npos;)
        program.replace(p, 6, file);
    writeFile(in, stdinText);
    std::string prefix = recorded ? kCli + " record --force -o " + dir + "/" + name + ".tmdb -- " : std::string();
    auto r = shell(prefix + program + " < " + in + " 2> " + err);
    Outcome run { r.status, r.out, withoutTidemarkLines(readFile(err)), readFile(file) };
    return run;
}

void expectUnchanged(const std::string& name, const std::string& stdinText, const std::string& program)
{
    Outcome bare = runOnce(name, stdinText, program, false);
    Outcome rec = runOnce(name, stdinText, program, true);
    EXPECT_EQ(bare.status, rec.status) << name;
    EXPECT_EQ(bare.out, rec.out) << name;
    EXPECT_EQ(bare.err, rec.err) << name;
    EXPECT_EQ(bare.file, rec.file) << name;
    // No record was lost: no truncated spool, no bad records. (Stacks cut at the depth limit lose
    // outer frames, not events: deep Python stacks may be cut.)
    auto report = shell(kCli + " report --format json " + scratchDir() + "/" + name + ".tmdb");
    ASSERT_EQ(0, report.status) << name;
    auto j = nlohmann::json::parse(report.out);
    for (const auto& loss : j["coverage"]["losses"])
        EXPECT_EQ("stacks_truncated", loss["name"]) << name << ": " << loss.dump();
}

TEST(TargetUnchanged, ReadsStdin) { expectUnchanged("stdin", "b\na\nc\n", "sort"); }

TEST(TargetUnchanged, OutputErrorAndExitStatus)
{
    expectUnchanged("exit", "", "/bin/sh -c 'echo out; echo err >&2; exit 42'");
}

TEST(TargetUnchanged, SignalHandlerRuns)
{
    expectUnchanged("handler", "", "/bin/bash -c 'trap \"echo caught\" USR1; kill -USR1 $$; echo after'");
}

TEST(TargetUnchanged, DeathBySignalIsReportedAsTheShellWould)
{
    Outcome bare = runOnce("killed", "", "/bin/sh -c 'echo before; kill -TERM $$; echo never'", false);
    Outcome rec = runOnce("killed", "", "/bin/sh -c 'echo before; kill -TERM $$; echo never'", true);
    EXPECT_EQ(128 + 15, rec.status);
    EXPECT_EQ(bare.out, rec.out);
}

// With stderr closed, a child's first open() would get descriptor 2: the capture library's spool
// must not, or the child's error messages land in the spool (it did: "spool ended mid-chunk").
TEST(TargetUnchanged, ClosedStderrDoesNotReceiveTheSpool)
{
    expectUnchanged("closed_stderr", "", "/bin/sh -c 'exec 2>&-; ls /nonexistent_tidemark_dir; echo rc=$?'");
}

TEST(TargetUnchanged, ClosedStdinAndStdoutThenRedirected)
{
    expectUnchanged("closed_all", "input\n",
        "/bin/sh -c 'exec 0<&- 1>&-; exec 1>@FILE@; echo hi; ls / | head -3; cat /nonexistent_tidemark 2>&1; exit 3'");
}

// SIGKILL of `tidemark record` itself while the program runs: the program goes on and finishes.
TEST(TargetUnchanged, KillingTheCollectorLeavesTheProgramRunning)
{
    std::string dir = scratchDir();
    std::string done = dir + "/collector_killed.done";
    std::string cmd = kCli + " record -o " + dir + "/collector_killed.tmdb -- /bin/sh -c 'sleep 1; ls / >/dev/null; echo finished > "
        + done + "' 2>/dev/null & pid=$!; sleep 0.3; kill -9 $pid; wait $pid; echo $?";
    auto r = shell(cmd);
    EXPECT_EQ("137\n", r.out); // the collector died of SIGKILL
    for (int i = 0; i < 50 && !fs::exists(done); ++i)
        ::usleep(100 * 1000);
    EXPECT_EQ("finished\n", readFile(done)) << "the program did not finish after its collector was killed";
}

TEST(TargetUnchanged, PythonReadingStdin)
{
    if (shell("test -x /usr/bin/python3").status != 0)
        GTEST_SKIP() << "no /usr/bin/python3";
    expectUnchanged("python", std::string(10000, 'x') + "\n",
        "/usr/bin/python3 -c 'import sys; d = sys.stdin.read(); print(len(d)); sys.stderr.write(\"e\\n\"); sys.exit(7)'");
}

} // namespace
