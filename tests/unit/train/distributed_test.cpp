// tidemark-train --distributed under mpirun with two ranks: both ranks report the same (averaged)
// loss every step while training on different data, end with bit-identical weights, and match a
// single process that trains on the two ranks' batches at once.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <sys/wait.h>

namespace {

struct Outcome {
    int status = -1;
    std::string out;
};

Outcome shell(const std::string& cmd)
{
    Outcome o;
    FILE* p = popen((cmd + " 2>&1").c_str(), "r");
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

// A private directory: other build trees may run these tests at the same time.
std::string privateDir()
{
    std::string dir = ::testing::TempDir() + "/tidemark_train_mpi_XXXXXX";
    return mkdtemp(dir.data()) ? dir : std::string();
}

const std::string kModel = " --device cpu --steps 6 --hidden 64 --layers 3 --print-every 1";

} // namespace

TEST(DistributedTest, TwoRanksAgreeAndMatchOneProcessWithTheWholeBatch)
{
    const std::string dir = privateDir();
    ASSERT_FALSE(dir.empty());
    const Outcome mpi = shell(std::string(TIDEMARK_MPIEXEC) + " -n 2 --oversubscribe --allow-run-as-root "
        + TIDEMARK_TRAIN_PATH + " --distributed --batch-size 16" + kModel + " --truth " + dir + "/dist.%r.json");
    ASSERT_EQ(mpi.status, 0) << mpi.out;

    // rank -> step -> (global loss, local loss)
    std::map<int, std::map<int, std::pair<double, double>>> seen;
    const std::regex line(R"(rank (\d+) step (\d+) loss ([0-9.]+) local ([0-9.]+))");
    std::istringstream lines(mpi.out);
    for (std::string l; std::getline(lines, l);) {
        std::smatch m;
        if (std::regex_search(l, m, line))
            seen[std::stoi(m[1])][std::stoi(m[2])] = { std::stod(m[3]), std::stod(m[4]) };
    }
    ASSERT_EQ(seen.size(), 2u) << mpi.out;
    ASSERT_EQ(seen[0].size(), 6u);
    ASSERT_EQ(seen[1].size(), 6u);
    for (int step = 1; step <= 6; ++step) {
        EXPECT_EQ(seen[0][step].first, seen[1][step].first) << "step " << step;
        EXPECT_NE(seen[0][step].second, seen[1][step].second) << "the ranks should train on different slices";
        EXPECT_NEAR(seen[0][step].first, (seen[0][step].second + seen[1][step].second) / 2, 2e-6);
    }

    std::ifstream t0(dir + "/dist.0.json"), t1(dir + "/dist.1.json");
    const auto truth0 = nlohmann::json::parse(t0), truth1 = nlohmann::json::parse(t1);
    EXPECT_EQ(truth0["config"]["rank"], 0);
    EXPECT_EQ(truth1["config"]["rank"], 1);
    EXPECT_EQ(truth0["config"]["world_size"], 2);
    EXPECT_EQ(truth0["parameter_checksum"], truth1["parameter_checksum"]) << "weights diverged between ranks";

    // One process with batch 32 sees both slices; only the summation order differs.
    const Outcome single = shell(std::string(TIDEMARK_TRAIN_PATH) + " --batch-size 32" + kModel);
    ASSERT_EQ(single.status, 0) << single.out;
    const std::regex singleLine(R"(^step (\d+) loss ([0-9.]+))");
    std::istringstream singleLines(single.out);
    int matched = 0;
    for (std::string l; std::getline(singleLines, l);) {
        std::smatch m;
        if (!std::regex_search(l, m, singleLine))
            continue;
        const int step = std::stoi(m[1]);
        const double loss = std::stod(m[2]);
        EXPECT_NEAR(seen[0][step].first, loss, 1e-4 * loss) << "step " << step;
        ++matched;
    }
    EXPECT_EQ(matched, 6);
    std::filesystem::remove_all(dir);
}

TEST(DistributedTest, FailingRankDoesNotHangTheOthers)
{
    // Rank-specific truth paths: rank 0's directory exists, rank 1's does not, so only rank 1 fails
    // (before training) while rank 0 would wait for it in the first allreduce.
    const std::string dir = privateDir();
    ASSERT_FALSE(dir.empty());
    std::filesystem::create_directories(dir + "/ok-0");
    const Outcome mpi
        = shell(std::string("timeout 60 ") + TIDEMARK_MPIEXEC + " -n 2 --oversubscribe --allow-run-as-root "
            + TIDEMARK_TRAIN_PATH + " --distributed" + kModel + " --truth " + dir + "/ok-%r/t.json");
    EXPECT_NE(mpi.status, 0);
    EXPECT_NE(mpi.status, 124) << "timed out: a rank was left waiting";
    std::filesystem::remove_all(dir);
}
