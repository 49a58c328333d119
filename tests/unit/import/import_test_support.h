// Shared helpers of the importer tests: fixture and real-data paths, a scratch directory, and single-value
// queries on an imported recording.
#pragma once

#include "analysis/import/import.h"
#include "trace/recording.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <unistd.h>

namespace tidemark::import::test {

inline std::string fixture(const std::string& name)
{
    const char* src = std::getenv("TIDEMARK_SOURCE_DIR");
    return std::string(src ? src : ".") + "/tests/data/import/" + name;
}

// Path of a real recording under TIDEMARK_REALDATA, or "" when the folder is absent.
inline std::string realdata(const std::string& relative)
{
    const char* dir = std::getenv("TIDEMARK_REALDATA");
    if (!dir)
        return {};
    std::string p = std::string(dir) + "/" + relative;
    return std::filesystem::exists(p) ? p : std::string();
}

#define TIDEMARK_REQUIRE_REALDATA(var, relative)                                                                      \
    std::string var = ::tidemark::import::test::realdata(relative);                                                  \
    if (var.empty())                                                                                                  \
        GTEST_SKIP() << "real data " << (relative) << " not found (set TIDEMARK_REALDATA to ../shared/realdata)";

inline std::filesystem::path scratchDir()
{
    return std::filesystem::temp_directory_path() / ("tidemark-import-test-" + std::to_string(::getpid()));
}

inline std::string scratch(const std::string& name)
{
    std::filesystem::create_directories(scratchDir());
    return (scratchDir() / name).string();
}

// Removes the scratch directory (generated traces reach 100 MB) when the test program ends.
class ScratchCleanup : public ::testing::Environment {
public:
    void TearDown() override
    {
        std::error_code ec;
        std::filesystem::remove_all(scratchDir(), ec);
    }
};

// A whole file's bytes ("" when it cannot be read), and a file written with exactly these bytes.
inline std::string readAll(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

inline void writeAll(const std::string& path, std::string_view data)
{
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(data.data(), static_cast<std::streamsize>(data.size()));
}

inline int64_t queryInt(trace::Db& db, const std::string& sql)
{
    auto v = db.queryInt(sql);
    EXPECT_TRUE(v.ok()) << sql << ": " << (v.ok() ? "" : v.error().message);
    return v.ok() ? *v : -1;
}

// Imports input and opens the result read-only; fails the test on error.
inline trace::Db importAndOpen(const std::string& input, const std::string& outName, Format format = Format::Auto)
{
    std::string out = scratch(outName);
    ImportOptions options;
    options.format = format;
    auto r = importFile(input, out, options);
    EXPECT_TRUE(r.ok()) << input << ": " << (r.ok() ? "" : r.error().message);
    auto db = trace::openRecording(out);
    EXPECT_TRUE(db.ok());
    return db.ok() ? std::move(*db) : trace::Db();
}

} // namespace tidemark::import::test
