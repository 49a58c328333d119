// The PyTorch hook end to end (docs/python.md): torch_train.py, a real training script on Debian's
// python3-torch, run unmodified under `tidemark record` and bare. The script writes what tidemark
// must find, taken from torch itself (its model's modules, its optimizer steps, the bytes the graph
// of its planted leak holds); the recording and the report must find exactly that. Without torch,
// with --no-torch, or with a sitecustomize of the user's, nothing of the hook must show.
#include "tests/e2e/shell.h"
#include "trace/recording.h"
#include "trace/sqlite.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <unistd.h>
#include <vector>

using namespace tidemark;
using json = nlohmann::json;
namespace fs = std::filesystem;
using Ran = tidemark::test::Capture;
constexpr auto run = tidemark::test::shell;

namespace {

constexpr const char* kPython = "/usr/bin/python3"; // Debian's, where python3-torch installs

bool haveTorch()
{
    return run(std::string(kPython) + " -c 'import torch' 2>/dev/null").status == 0;
}

std::string stem(const char* name)
{
    return std::string(::testing::TempDir()) + "/tm_torch_" + name + "_" + std::to_string(getpid());
}

std::string script()
{
    return std::string(TIDEMARK_PY_DIR) + "/torch_train.py";
}

json readJson(const std::string& path)
{
    std::ifstream in(path);
    return json::parse(in, nullptr, false);
}

struct Range {
    std::string name;
    int64_t parent = 0;
    bool closed = false;
    int64_t process = 0;
};

// The torch-domain ranges of a recording by id.
std::map<int64_t, Range> torchRanges(trace::Db& db)
{
    std::map<int64_t, Range> out;
    auto st = db.prepare("SELECT r.id, n.value, coalesce(r.parent_id, 0), r.end_ts_ns IS NOT NULL, r.process_id"
                         " FROM ranges r JOIN strings d ON d.id = r.domain_id LEFT JOIN strings n ON n.id = r.name_id"
                         " WHERE d.value = 'torch'");
    EXPECT_TRUE(st.ok());
    if (!st.ok())
        return out;
    while (st.value().step()) {
        auto& s = st.value();
        out[s.int64(0)] = { s.isNull(1) ? "" : s.text(1), s.int64(2), s.int64(3) != 0, s.int64(4) };
    }
    return out;
}

int64_t scalar(trace::Db& db, const std::string& sql)
{
    auto st = db.prepare(sql);
    EXPECT_TRUE(st.ok()) << sql;
    if (!st.ok() || !st.value().step())
        return -1;
    return st.value().int64(0);
}

// A recording of torch_train.py in `mode` next to its bare run: same output, same exit status.
struct Recorded {
    std::string db;
    json truth;
};

Recorded recordTrain(const char* mode, const std::string& extra = "")
{
    std::string s = stem(mode);
    Recorded r;
    r.db = s + ".tmdb";
    std::remove(r.db.c_str());
    Ran bare = run(std::string(kPython) + " " + script() + " " + s + ".bare.json " + mode);
    EXPECT_EQ(bare.status, 3) << bare.out;
    Ran rec = run(std::string(TIDEMARK_CLI_PATH) + " record " + extra + " -o " + r.db + " -- " + kPython + " "
        + script() + " " + s + ".json " + mode + " 2>" + s + ".err");
    EXPECT_EQ(rec.status, 3) << "record must return the program's exit code";
    EXPECT_EQ(rec.out, bare.out) << "the program's output must be its bare output";
    r.truth = readJson(s + ".json");
    EXPECT_TRUE(r.truth.is_object()) << "the script wrote no ground truth";
    return r;
}

TEST(TorchPhases, PlantedLeakIsGrowthPerStepAtItsLineAndPhasesNameTheModules)
{
    if (!haveTorch())
        GTEST_SKIP() << "PyTorch (python3-torch) is not installed (scripts/setup-real-programs.sh installs it)";
    Recorded r = recordTrain("leak");
    ASSERT_TRUE(r.truth.is_object());
    const int64_t steps = r.truth["steps"].get<int64_t>();
    ASSERT_EQ(steps, 12);

    auto opened = trace::openRecording(r.db);
    ASSERT_TRUE(opened.ok()) << opened.error().message;
    auto ranges = torchRanges(opened.value());

    // Steps: one per optimizer step, each ended by it; the evaluation after the last step begins
    // one more, left open. Every phase is inside a step.
    std::map<int64_t, int64_t> stepOf; // step range id -> step number
    int64_t closedSteps = 0;
    for (const auto& [id, range] : ranges)
        if (range.name.rfind("step ", 0) == 0) {
            stepOf[id] = std::stoll(range.name.substr(5));
            closedSteps += range.closed;
            EXPECT_EQ(range.parent, 0);
        }
    EXPECT_EQ(closedSteps, steps);
    std::set<int64_t> numbers;
    for (const auto& [id, n] : stepOf)
        numbers.insert(n);
    EXPECT_EQ(numbers.size(), size_t(steps + 1));
    EXPECT_EQ(numbers.empty() ? 0 : *numbers.begin(), 1);
    EXPECT_EQ(numbers.empty() ? 0 : *numbers.rbegin(), steps + 1);
    std::map<int64_t, std::set<std::string>> phasesOfStep;
    for (const auto& [id, range] : ranges)
        if (!stepOf.count(id)) {
            ASSERT_TRUE(stepOf.count(range.parent)) << range.name << " is outside every step";
            phasesOfStep[stepOf[range.parent]].insert(range.name);
        }

    // In every step, each module of the model (torch's own named_modules()) is a forward phase
    // named by its path; each module whose output carries a gradient of its own (all but the
    // Sequential, whose output is its last layer's) a backward phase; the optimizer a phase. The
    // open step is the evaluation's forward only.
    const std::string root = r.truth["root"].get<std::string>();
    std::set<std::string> forward { "forward/" + root }, trained { "backward", "optimizer/SGD" };
    for (const auto& m : r.truth["modules"]) {
        std::string label = m[0].get<std::string>() + " (" + m[1].get<std::string>() + ")";
        forward.insert("forward/" + label);
        if (m[1] != "Sequential")
            trained.insert("backward/" + label);
    }
    for (int64_t i = 1; i <= steps + 1; ++i) {
        SCOPED_TRACE("step " + std::to_string(i));
        std::set<std::string> want = forward;
        want.insert("forward/CrossEntropyLoss");
        if (i <= steps) {
            want.insert(trained.begin(), trained.end());
            want.insert("backward/CrossEntropyLoss");
        }
        EXPECT_EQ(phasesOfStep[i], want);
    }

    // The report: growth per step from the step boundaries, the bytes the leaking line's graph
    // holds, at that line; the peak's activations attributed to the wide layer that made them.
    std::string s = stem("leak");
    Ran report = run(std::string(TIDEMARK_CLI_PATH) + " report --format json " + r.db + " > " + s + ".report.json");
    ASSERT_EQ(report.status, 0);
    json rep = readJson(s + ".report.json");
    ASSERT_TRUE(rep.is_object());
    const json* host = nullptr;
    for (const auto& space : rep["spaces"])
        if (space["name"] == "host")
            host = &space;
    ASSERT_NE(host, nullptr);
    const json& growth = (*host)["growth"];
    EXPECT_EQ(growth["method"], "steps");
    EXPECT_TRUE(growth["growing"].get<bool>());
    double truth = r.truth["leak_bytes"].get<double>();
    double measured = growth["bytes_per_step"].get<double>();
    EXPECT_LT(std::fabs(measured - truth), 0.10 * truth)
        << "measured " << measured << " B/step, the graph holds " << truth;
    ASSERT_FALSE(growth["sites"].empty());
    const json& top = growth["sites"][0];
    std::string leakLine = "torch_train.py:" + std::to_string(r.truth["leak_line"].get<int64_t>());
    EXPECT_NE(top["site"]["label"].get<std::string>().find(leakLine), std::string::npos) << top["site"]["label"];
    EXPECT_GT(top["bytes_per_step"].get<double>(), 0.9 * truth);

    const json& byPhase = (*host)["peak"]["by_phase"];
    std::string largest;
    int64_t largestBytes = 0;
    for (const auto& row : byPhase)
        if (!row["key"].get<std::string>().empty() && row["bytes"].get<int64_t>() > largestBytes) {
            largest = row["key"].get<std::string>();
            largestBytes = row["bytes"].get<int64_t>();
        }
    EXPECT_EQ(largest, "step/forward/" + r.truth["wide_module"].get<std::string>());

    for (const char* ext : { ".json", ".bare.json", ".err", ".tmdb", ".report.json" })
        std::remove((s + ext).c_str());
}

TEST(TorchPhases, DataLoaderWorkersAreRecordedAndStepsStillCount)
{
    if (!haveTorch())
        GTEST_SKIP() << "PyTorch (python3-torch) is not installed (scripts/setup-real-programs.sh installs it)";
    Recorded r = recordTrain("workers");
    ASSERT_TRUE(r.truth.is_object());
    auto opened = trace::openRecording(r.db);
    ASSERT_TRUE(opened.ok()) << opened.error().message;
    trace::Db& db = opened.value();
    // The main process and the DataLoader's two worker processes (forked, followed).
    EXPECT_EQ(scalar(db, "SELECT count(*) FROM processes"), 3);
    // The workers' allocations have the dataset's Python frames.
    int64_t workerGetitem = scalar(db,
        "WITH RECURSIVE under(id) AS (SELECT c.id FROM callsites c JOIN symbols s ON s.frame_id = c.frame_id"
        " JOIN strings n ON n.id = s.function_id WHERE n.value = 'Batches.__getitem__'"
        " UNION SELECT c.id FROM callsites c JOIN under ON c.parent_id = under.id)"
        " SELECT count(DISTINCT process_id) FROM allocations WHERE callsite_id IN under"
        " AND process_id <> (SELECT min(id) FROM processes)");
    EXPECT_EQ(workerGetitem, 2);
    auto ranges = torchRanges(db);
    int64_t steps = 0;
    for (const auto& [id, range] : ranges)
        steps += range.name.rfind("step ", 0) == 0 && range.closed;
    EXPECT_EQ(steps, r.truth["steps"].get<int64_t>());
    std::string s = stem("workers");
    for (const char* ext : { ".json", ".bare.json", ".err", ".tmdb" })
        std::remove((s + ext).c_str());
}

TEST(TorchPhases, NoTorchFlagAndAPlainPythonProgramHaveNoTorchPhases)
{
    if (!haveTorch())
        GTEST_SKIP() << "PyTorch (python3-torch) is not installed (scripts/setup-real-programs.sh installs it)";
    {
        Recorded r = recordTrain("leak", "--no-torch");
        auto opened = trace::openRecording(r.db);
        ASSERT_TRUE(opened.ok()) << opened.error().message;
        EXPECT_TRUE(torchRanges(opened.value()).empty());
    }
    // frames.py imports no torch: Python frames, no phase.
    std::string s = stem("plain");
    std::remove((s + ".tmdb").c_str());
    Ran rec = run(std::string(TIDEMARK_CLI_PATH) + " record -o " + s + ".tmdb -- " + kPython + " " + TIDEMARK_PY_DIR
        + "/frames.py " + s + ".json 2>" + s + ".err");
    EXPECT_EQ(rec.status, 3);
    auto opened = trace::openRecording(s + ".tmdb");
    ASSERT_TRUE(opened.ok()) << opened.error().message;
    EXPECT_GT(scalar(opened.value(), "SELECT count(*) FROM frames WHERE ip >= " + std::to_string(0x7079ull << 48)), 0);
    EXPECT_EQ(scalar(opened.value(), "SELECT count(*) FROM ranges"), 0);
    for (const char* ext : { ".json", ".err", ".tmdb" })
        std::remove((s + ext).c_str());
    std::remove((stem("leak") + ".tmdb").c_str());
}

TEST(TorchPhases, TheSitecustomizeTidemarkHidesStillRuns)
{
    // The program's own sitecustomize (here one on the user's PYTHONPATH; without one, Debian's)
    // runs under record as it does bare.
    std::string dir = stem("site");
    fs::create_directories(dir);
    {
        std::ofstream(dir + "/sitecustomize.py") << "import sys\nsys.stdout.write('users sitecustomize ran\\n')\n";
    }
    const std::string probe = " -c 'import sys; print(sys.modules[\"sitecustomize\"].__file__)'";
    Ran bare = run("PYTHONPATH=" + dir + " " + kPython + probe);
    ASSERT_EQ(bare.status, 0);
    ASSERT_EQ(
        bare.out, "users sitecustomize ran\n" + fs::path(dir).lexically_normal().string() + "/sitecustomize.py\n");
    Ran rec = run("PYTHONPATH=" + dir + " " + TIDEMARK_CLI_PATH + " record -o " + dir + "/a.tmdb -- " + kPython + probe
        + " 2>/dev/null");
    EXPECT_EQ(rec.status, 0);
    EXPECT_EQ(rec.out, bare.out);

    Ran bareDebian = run(std::string(kPython) + probe + " 2>&1");
    Ran recDebian
        = run(std::string(TIDEMARK_CLI_PATH) + " record -o " + dir + "/b.tmdb -- " + kPython + probe + " 2>/dev/null");
    EXPECT_EQ(recDebian.status, bareDebian.status);
    EXPECT_EQ(recDebian.out, bareDebian.out);
    fs::remove_all(dir);
}

} // namespace
