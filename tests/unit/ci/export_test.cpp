// Exports on a synthetic training recording with known contents: the Chrome trace is valid JSON with
// one slice per range, kernel and copy and one instant per failed allocation; folded stacks sum to the
// weight; CSV has one RFC 4180 record per allocation and survives awkward names.
#include "analysis/export.h"
#include "training_fixture.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <map>
#include <sstream>
#include <unistd.h>

using namespace tidemark;
using namespace tidemark::analysis;

namespace {

struct Fixture {
    tidemark::testing::TrainingTruth truth;
    Recording rec;
};

Fixture open(const std::string& name, const tidemark::testing::TrainingShape& shape)
{
    auto dir = std::filesystem::temp_directory_path() / ("tidemark-export-test-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir);
    std::string path = (dir / name).string();
    auto truth = tidemark::testing::writeTrainingRecording(path, shape);
    if (!truth.ok())
        throw std::runtime_error(truth.error().message);
    auto rec = Recording::open(path);
    if (!rec.ok())
        throw std::runtime_error(rec.error().message);
    return Fixture { *truth, std::move(*rec) };
}

// Minimal RFC 4180 reader: records of fields, quoted fields may hold commas, quotes and line breaks.
std::vector<std::vector<std::string>> readCsv(const std::string& text)
{
    std::vector<std::vector<std::string>> rows(1, std::vector<std::string>(1));
    bool quoted = false;
    for (size_t i = 0; i < text.size(); ++i) {
        char c = text[i];
        if (quoted) {
            if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
                rows.back().back() += '"';
                ++i;
            } else if (c == '"') {
                quoted = false;
            } else {
                rows.back().back() += c;
            }
        } else if (c == '"') {
            quoted = true;
        } else if (c == ',') {
            rows.back().emplace_back();
        } else if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') {
            ++i;
            rows.emplace_back(1);
        } else {
            rows.back().back() += c;
        }
    }
    if (rows.back().size() == 1 && rows.back()[0].empty())
        rows.pop_back();
    return rows;
}

int64_t foldedSum(const std::string& text, int64_t& lines)
{
    std::istringstream in(text);
    std::string line;
    int64_t sum = 0;
    lines = 0;
    while (std::getline(in, line)) {
        size_t sp = line.rfind(' ');
        EXPECT_NE(sp, std::string::npos) << line;
        sum += std::stoll(line.substr(sp + 1));
        ++lines;
    }
    return sum;
}

} // namespace

TEST(Export, ChromeTraceIsValidJsonWithExpectedEventCounts)
{
    tidemark::testing::TrainingShape shape;
    shape.failedAllocations = 2;
    Fixture f = open("chrome.tmdb", shape);
    std::ostringstream out;
    auto stats = exportChrome(f.rec, out);
    ASSERT_TRUE(stats.ok()) << stats.error().message;
    auto doc = nlohmann::json::parse(out.str(), nullptr, false);
    ASSERT_FALSE(doc.is_discarded()) << "not valid JSON";
    ASSERT_TRUE(doc["traceEvents"].is_array());
    std::map<std::string, int64_t> byPhase;
    std::map<std::string, int64_t> maxCounter;
    for (const auto& e : doc["traceEvents"]) {
        std::string ph = e.at("ph");
        byPhase[ph] += 1;
        ASSERT_TRUE(e.contains("pid") && e.contains("name")) << e.dump();
        if (ph == "X")
            EXPECT_GE(e.at("dur").get<double>(), 0.0);
        if (ph == "C")
            maxCounter[e["name"]] = std::max(maxCounter[e["name"]], e["args"]["live"].get<int64_t>());
    }
    EXPECT_EQ(byPhase["X"], f.truth.ranges + f.truth.kernels + f.truth.copies);
    EXPECT_EQ(byPhase["i"], f.truth.failed);
    EXPECT_EQ(byPhase["C"], stats->counters);
    EXPECT_GT(byPhase["C"], 0);
    EXPECT_EQ(byPhase["M"], stats->metadata);
    // The counter's highest point is the exact peak (buckets keep their maximum).
    EXPECT_EQ(maxCounter["cuda:0 live bytes"], f.truth.devicePeakBytes);
    EXPECT_EQ(maxCounter["host live bytes"], f.truth.hostPeakBytes);
}

TEST(Export, FoldedStacksSumToTheWeight)
{
    tidemark::testing::TrainingShape shape;
    shape.leakEvery = 2;
    Fixture f = open("folded.tmdb", shape);
    auto space = f.rec.findSpace("cuda:0");
    ASSERT_TRUE(space.ok());
    std::ostringstream peak, leaked, count;
    ASSERT_TRUE(exportFolded(f.rec, peak, TreeWeight::PeakBytes, space->id).ok());
    ASSERT_TRUE(exportFolded(f.rec, leaked, TreeWeight::LeakedBytes, space->id).ok());
    ASSERT_TRUE(exportFolded(f.rec, count, TreeWeight::AllocationCount, 0).ok());
    int64_t lines = 0;
    EXPECT_EQ(foldedSum(peak.str(), lines), f.truth.devicePeakBytes);
    EXPECT_GT(lines, 1);
    // Live at exit: the weights (allocated once) and every planted leak.
    EXPECT_EQ(foldedSum(leaked.str(), lines), shape.weightBytes + f.truth.deviceLeakedBytes);
    EXPECT_EQ(lines, 2);
    EXPECT_NE(leaked.str().find("main;train_step;layer_forward;leaky_cache "), std::string::npos) << leaked.str();
    EXPECT_EQ(foldedSum(count.str(), lines), f.truth.allocations);
}

TEST(Export, CsvHasOneRecordPerAllocationAndQuotesFields)
{
    tidemark::testing::TrainingShape shape;
    shape.oddName = "grad, \"fused\"\nbuffer";
    Fixture f = open("csv.tmdb", shape);
    std::ostringstream out;
    auto stats = exportCsv(f.rec, out, 0);
    ASSERT_TRUE(stats.ok());
    auto rows = readCsv(out.str());
    ASSERT_EQ(static_cast<int64_t>(rows.size()), f.truth.allocations + 1);
    EXPECT_EQ(stats->lines, f.truth.allocations);
    const auto& header = rows[0];
    ASSERT_EQ(header.back(), "name");
    int named = 0;
    for (size_t i = 1; i < rows.size(); ++i) {
        ASSERT_EQ(rows[i].size(), header.size()) << "row " << i;
        named += rows[i].back() == shape.oddName;
    }
    EXPECT_EQ(named, shape.steps); // one optimizer buffer per step carries the name
    EXPECT_EQ(csvField("plain"), "plain");
    EXPECT_EQ(csvField("a,b"), "\"a,b\"");
    EXPECT_EQ(csvField("say \"hi\""), "\"say \"\"hi\"\"\"");
}
