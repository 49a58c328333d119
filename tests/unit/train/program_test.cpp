// The tidemark-train program itself: option errors are one line and exit 2, --help helps, the
// CUDA-linked binary starts and trains on the CPU on a machine without a GPU driver, and --truth
// writes a JSON document that matches what the program printed.
#include "options.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <sys/wait.h>
#include <unistd.h>

using namespace tidemark::train;

namespace {

struct Outcome {
    int status;
    std::string out; // stdout and stderr together
};

std::string binary()
{
    const char* dir = std::getenv("TIDEMARK_BUILD_DIR");
    return std::string(dir ? dir : ".") + "/bin/tidemark-train";
}

Outcome runProgram(const std::string& args)
{
    const std::string cmd = binary() + " " + args + " 2>&1";
    Outcome o { -1, {} };
    FILE* p = popen(cmd.c_str(), "r");
    if (!p)
        return o;
    std::array<char, 4096> buf;
    size_t n;
    while ((n = fread(buf.data(), 1, buf.size(), p)) > 0)
        o.out.append(buf.data(), n);
    const int raw = pclose(p);
    o.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
    return o;
}

int countLines(const std::string& s)
{
    return static_cast<int>(std::count(s.begin(), s.end(), '\n'));
}

Options parse(const std::vector<const char*>& args, std::string& error)
{
    std::vector<const char*> argv { "tidemark-train" };
    argv.insert(argv.end(), args.begin(), args.end());
    Options o;
    error = parseOptions(static_cast<int>(argv.size()), argv.data(), o);
    return o;
}

} // namespace

TEST(OptionsTest, ParsesEveryKnob)
{
    std::string error;
    const Options o = parse({ "--batch-size", "16", "--layers", "4", "--hidden", "32", "--steps", "3", "--checkpoint",
                                "2", "--precision", "bf16", "--leak-every", "2", "--leak-bytes", "4096", "--fragment",
                                "--seed", "99", "--no-cache", "--truth", "t.json", "--device", "cpu" },
        error);
    ASSERT_EQ(error, "");
    EXPECT_EQ(o.train.model.batch, 16);
    EXPECT_EQ(o.train.model.layers, 4);
    EXPECT_EQ(o.train.model.hidden, 32);
    EXPECT_EQ(o.train.steps, 3);
    EXPECT_EQ(o.train.model.checkpoint, 2);
    EXPECT_EQ(o.train.model.precision, DType::Bf16);
    EXPECT_EQ(o.train.leakEvery, 2);
    EXPECT_EQ(o.train.leakBytes, 4096u);
    EXPECT_TRUE(o.train.fragment);
    EXPECT_EQ(o.train.seed, 99u);
    EXPECT_FALSE(o.train.caching);
    EXPECT_EQ(o.truthPath, "t.json");
    EXPECT_EQ(o.train.device, "cpu");
}

TEST(OptionsTest, RejectsBadValues)
{
    std::string error;
    for (const auto& args : std::vector<std::vector<const char*>> { { "--layers", "8x" }, { "--layers", "0" },
             { "--batch-size", "-1" }, { "--precision", "fp8" }, { "--device", "tpu" }, { "--steps" },
             { "--frobnicate" }, { "--seed", "abc" }, { "--lr", "0" } }) {
        parse(args, error);
        EXPECT_NE(error, "") << args.front();
    }
}

TEST(ProgramTest, BadOptionIsOneLineAndExitTwo)
{
    const Outcome o = runProgram("--hidden lots");
    EXPECT_EQ(o.status, 2);
    EXPECT_EQ(countLines(o.out), 1) << o.out;
    EXPECT_EQ(o.out.rfind("tidemark-train: error: ", 0), 0u) << o.out;
    const Outcome truth = runProgram("--steps 1 --truth /nonexistent-dir/t.json");
    EXPECT_EQ(truth.status, 2);
    EXPECT_NE(truth.out.find("--truth"), std::string::npos);
}

TEST(ProgramTest, HelpListsTheKnobs)
{
    const Outcome o = runProgram("--help");
    EXPECT_EQ(o.status, 0);
    for (const char* knob : { "--batch-size", "--layers", "--hidden", "--steps", "--checkpoint", "--precision",
             "--leak-every", "--leak-bytes", "--fragment", "--seed", "--no-cache", "--truth", "--device" })
        EXPECT_NE(o.out.find(knob), std::string::npos) << knob;
}

TEST(ProgramTest, AutoFallsBackToCpuWithOneNoteAndWritesTruth)
{
    std::string dir = ::testing::TempDir() + "/tidemark_train_program_XXXXXX";
    ASSERT_NE(mkdtemp(dir.data()), nullptr);
    const std::string truthPath = dir + "/truth.json";
    const Outcome o = runProgram("--device auto --steps 5 --layers 3 --hidden 32 --batch-size 8 --truth " + truthPath);
    ASSERT_EQ(o.status, 0) << o.out;
    // There is no GPU on the machines this project is tested on; where there is one, auto picks it.
    const bool cpu = o.out.find("cpu backend") != std::string::npos;
    if (cpu) {
        EXPECT_NE(o.out.find("tidemark-train: note: no CUDA device"), std::string::npos) << o.out;
    }
    for (int step = 1; step <= 5; ++step)
        EXPECT_NE(o.out.find("step " + std::to_string(step) + " loss "), std::string::npos);
    std::ifstream in(truthPath);
    const auto truth = nlohmann::json::parse(in);
    EXPECT_EQ(truth["config"]["layers"], 3);
    EXPECT_EQ(truth["config"]["device"], cpu ? "cpu" : "cuda");
    EXPECT_EQ(truth["loss"]["per_step"].size(), 5u);
    char printed[64];
    std::snprintf(printed, sizeof printed, "step 5 loss %.6f", truth["loss"]["final"].get<double>());
    EXPECT_NE(o.out.find(printed), std::string::npos) << printed;
    std::filesystem::remove_all(dir);
}

TEST(ProgramTest, ExplicitCudaWithoutADeviceIsAClearError)
{
    const Outcome o = runProgram("--device cuda --steps 1");
    if (o.status == 0)
        GTEST_SKIP() << "a CUDA device is present here";
    EXPECT_EQ(o.status, 2);
    EXPECT_EQ(countLines(o.out), 1) << o.out;
    EXPECT_NE(o.out.find("CUDA"), std::string::npos);
}
