// `cmake --build build --target package` makes a .deb; here CPack builds it from this build tree into
// a scratch folder, and the test checks what a user gets: dependencies found by dpkg-shlibdeps, the
// files in their places, and `record` and `report` working from the extracted package (the
// recording's module table must show the extracted capture library, not the build tree's).
#include "tests/e2e/shell.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <regex>
#include <string>
#include <unistd.h>

namespace fs = std::filesystem;
using tidemark::test::shell;

namespace {

class DebianPackage : public ::testing::Test {
protected:
    static void SetUpTestSuite()
    {
        if (shell("command -v dpkg-deb >/dev/null && command -v dpkg-shlibdeps >/dev/null").status != 0)
            return;
        s_dir = std::string(::testing::TempDir()) + "/tm_package_" + std::to_string(getpid());
        fs::remove_all(s_dir);
        fs::create_directories(s_dir);
        auto r = shell(std::string(TIDEMARK_CPACK_COMMAND) + " -G DEB --config '" TIDEMARK_TEST_BUILD_DIR
                       "/CPackConfig.cmake' -B '"
            + s_dir + "/out' 2>&1");
        s_cpackLog = r.out;
        for (const auto& e : fs::directory_iterator(s_dir + "/out"))
            if (e.path().extension() == ".deb")
                s_deb = e.path().string();
    }
    static void TearDownTestSuite()
    {
        if (!s_dir.empty())
            fs::remove_all(s_dir);
    }
    void SetUp() override
    {
        if (s_dir.empty())
            GTEST_SKIP() << "dpkg-deb or dpkg-shlibdeps missing (dpkg-dev)";
        ASSERT_FALSE(s_deb.empty()) << "cpack made no .deb:\n" << s_cpackLog;
    }
    static inline std::string s_dir, s_deb, s_cpackLog;
};

TEST_F(DebianPackage, NamedLikeADebianPackageWithItsLibraryDependencies)
{
    EXPECT_TRUE(std::regex_match(fs::path(s_deb).filename().string(), std::regex("tidemark_[0-9]+\\.[0-9]+\\.[0-9]+_[a-z0-9]+\\.deb")))
        << s_deb;
    EXPECT_EQ(shell("dpkg --print-architecture").out, shell("dpkg-deb -f '" + s_deb + "' Architecture").out);
    auto depends = shell("dpkg-deb -f '" + s_deb + "' Depends").out;
    // What the CLI and the capture library link, as dpkg-shlibdeps names the packages.
    for (const char* pkg : { "libc6", "libstdc++6", "libsqlite3-0", "libdw1", "libelf1", "libtomlplusplus3" })
        EXPECT_NE(std::string::npos, depends.find(pkg)) << pkg << " missing from Depends: " << depends;
    if (TIDEMARK_PACKAGE_HAS_GUI)
        EXPECT_NE(std::string::npos, depends.find("libqt6widgets6")) << depends;
    // Nothing from the CUDA toolkit: it is the user's, loaded only when a program starts CUDA.
    EXPECT_EQ(std::string::npos, depends.find("cuda")) << depends;
}

TEST_F(DebianPackage, HoldsTheCommandTheCaptureLibrariesManPagesAndCompletion)
{
    auto list = shell("dpkg-deb -c '" + s_deb + "'").out;
    for (const char* f : { "./usr/bin/tidemark", "./usr/lib/tidemark/libtidemark.so", "./usr/lib/tidemark/python/sitecustomize.py",
             "./usr/lib/tidemark/python/tidemark_torch.py", "./usr/share/man/man1/tidemark.1",
             "./usr/share/man/man1/tidemark-record.1", "./usr/share/man/man1/tidemark-report.1",
             "./usr/share/bash-completion/completions/tidemark", "./usr/share/doc/tidemark/README.md" })
        EXPECT_NE(std::string::npos, list.find(std::string(f) + "\n")) << f << " not in the package:\n" << list;
    if (TIDEMARK_PACKAGE_HAS_GUI)
        EXPECT_NE(std::string::npos, list.find("./usr/bin/tidemark-gui\n")) << list;
}

TEST_F(DebianPackage, RecordsAndReportsFromTheExtractedPackage)
{
    const std::string root = s_dir + "/root";
    ASSERT_EQ(0, shell("dpkg-deb -x '" + s_deb + "' '" + root + "'").status);
    const std::string cli = root + "/usr/bin/tidemark";
    const std::string rec = s_dir + "/run.tmdb";
    auto recorded = shell("'" + cli + "' record -o '" + rec + "' -- '" TIDEMARK_TRAIN_PATH "' --device cpu --steps 3 2>&1");
    ASSERT_EQ(0, recorded.status) << recorded.out;
    auto report = shell("'" + cli + "' report --format json '" + rec + "'");
    ASSERT_EQ(0, report.status) << report.out;
    auto j = nlohmann::json::parse(report.out);
    EXPECT_GT(j["recording"]["allocations"].get<int64_t>(), 100);
    bool hostPeak = false;
    for (const auto& sp : j["spaces"])
        hostPeak = hostPeak || (sp["name"] == "host" && sp["peak"]["bytes"].get<int64_t>() > (1 << 20));
    EXPECT_TRUE(hostPeak) << report.out.substr(0, 2000);
    // The capture library in the target was the package's.
    auto modules = shell("sqlite3 '" + rec + "' \"select path from modules where path like '%libtidemark.so'\"");
    if (modules.status == 0)
        EXPECT_EQ(fs::weakly_canonical(root + "/usr/lib/tidemark/libtidemark.so").string() + "\n", modules.out);
    // The man page installed is the one made from --help, and man can show it.
    auto man = shell("MANWIDTH=80 man -l '" + root + "/usr/share/man/man1/tidemark-record.1' 2>/dev/null");
    if (man.status == 0)
        EXPECT_NE(std::string::npos, man.out.find("--stack-depth")) << man.out;
}

} // namespace
