// The man pages and the bash completion are made from each command's --help text. The ground truth
// here is that text as the command prints it: every option it lists must be in the man page (which
// groff must read without a warning) and be offered by the completion, run in a real bash.
#include "tests/e2e/shell.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <regex>
#include <set>
#include <string>
#include <unistd.h>
#include <vector>

using tidemark::test::shell;

namespace {

const std::string kCli = TIDEMARK_CLI_PATH;

// Command names from the list in `tidemark --help` ("  name  summary" after "commands:").
std::vector<std::string> commandNames()
{
    auto r = shell(kCli + " --help");
    std::vector<std::string> names;
    bool inList = false;
    static const std::regex row("^  ([a-z]+) +\\S.*$");
    for (size_t at = 0; at < r.out.size();) {
        auto nl = r.out.find('\n', at);
        std::string line = r.out.substr(at, nl - at);
        at = nl == std::string::npos ? r.out.size() : nl + 1;
        if (line == "commands:")
            inList = true;
        else if (line.empty())
            inList = false;
        std::smatch m;
        if (inList && std::regex_match(line, m, row))
            names.push_back(m[1]);
    }
    return names;
}

// Option names from the lines of a help text that start with two spaces and a dash.
std::set<std::string> helpOptions(const std::string& help)
{
    std::set<std::string> out;
    static const std::regex line("(^|\n)  (-[^\n]*?)(?=  |\n|$)");
    static const std::regex flag("-{1,2}[A-Za-z][A-Za-z0-9-]*");
    for (std::sregex_iterator m(help.begin(), help.end(), line), end; m != end; ++m) {
        std::string term = (*m)[2];
        for (std::sregex_iterator f(term.begin(), term.end(), flag), fend; f != fend; ++f)
            if (f->position() == 0 || term[static_cast<size_t>(f->position()) - 1] == ' ')
                out.insert(f->str());
    }
    return out;
}

std::string singleQuoted(const std::string& s) { return "'" + s + "'"; }

// COMPREPLY of the generated completion for the words typed so far (the last one being completed).
std::set<std::string> complete(const std::vector<std::string>& words)
{
    std::string script = "source <(" + kCli + " completion bash) && COMP_WORDS=(";
    for (const auto& w : words)
        script += singleQuoted(w) + " ";
    script += ") && COMP_CWORD=" + std::to_string(words.size() - 1)
        + "; _tidemark; printf '%s\\n' \"${COMPREPLY[@]}\"";
    script += "\n";
    std::string file = std::string(::testing::TempDir()) + "/tm_complete_" + std::to_string(getpid()) + ".sh";
    FILE* f = std::fopen(file.c_str(), "w");
    EXPECT_NE(nullptr, f);
    if (!f)
        return {};
    std::fputs(script.c_str(), f);
    std::fclose(f);
    auto r = shell("bash " + file + " 2>&1");
    std::filesystem::remove(file);
    EXPECT_EQ(0, r.status) << r.out;
    std::set<std::string> out;
    for (size_t at = 0; at < r.out.size();) {
        auto nl = r.out.find('\n', at);
        std::string w = r.out.substr(at, nl - at);
        if (!w.empty())
            out.insert(w);
        at = nl == std::string::npos ? r.out.size() : nl + 1;
    }
    return out;
}

TEST(Manual, EveryCommandHasAManPageWithEveryOptionOfItsHelp)
{
    auto names = commandNames();
    ASSERT_GE(names.size(), 10u);
    bool haveGroff = shell("command -v groff >/dev/null").status == 0;
    for (const auto& name : names) {
        auto help = shell(kCli + " " + name + " --help");
        ASSERT_EQ(0, help.status) << name;
        EXPECT_EQ(help.out, shell(kCli + " help " + name).out) << name;
        auto page = shell(kCli + " help --man " + name);
        ASSERT_EQ(0, page.status) << name;
        EXPECT_NE(std::string::npos, page.out.find(".TH TIDEMARK-" + [&] {
            std::string u = name;
            for (auto& c : u)
                c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
            return u;
        }() + " 1"))
            << page.out;
        auto options = helpOptions(help.out);
        EXPECT_FALSE(options.empty()) << name << " lists no options:\n" << help.out;
        EXPECT_TRUE(options.count("--help")) << name;
        if (!haveGroff)
            continue;
        // The page as man shows it: every option of --help is there, and groff warns about nothing.
        std::string file = std::string(::testing::TempDir()) + "/tm_man_" + name + "_" + std::to_string(getpid()) + ".1";
        ASSERT_EQ(0, shell(kCli + " help --man " + name + " > " + file).status);
        auto warnings = shell("groff -man -Tutf8 -ww -z " + file + " 2>&1");
        EXPECT_EQ("", warnings.out) << name;
        auto shown = shell("groff -man -Tascii -P-cbou " + file + " 2>/dev/null");
        for (const auto& o : options)
            EXPECT_TRUE(std::regex_search(shown.out, std::regex("(^|[ ,])" + o + "([ ,=\n]|$)")))
                << name << ": " << o << " missing from the man page:\n"
                << shown.out;
        std::filesystem::remove(file);
    }
}

TEST(Manual, ManDirWritesTheOverviewAndOnePagePerCommand)
{
    std::string dir = std::string(::testing::TempDir()) + "/tm_mandir_" + std::to_string(getpid());
    ASSERT_EQ(0, shell(kCli + " help --man-dir " + dir).status);
    auto overview = shell("cat " + dir + "/tidemark.1").out;
    for (const auto& name : commandNames()) {
        EXPECT_TRUE(std::filesystem::exists(dir + "/tidemark-" + name + ".1")) << name;
        EXPECT_NE(std::string::npos, overview.find("tidemark\\-" + name + "\\fR(1)")) << name;
    }
    std::filesystem::remove_all(dir);
    EXPECT_EQ(2, shell(kCli + " help --man nosuchcommand 2>/dev/null").status);
}

TEST(Manual, BashCompletionOffersCommandsOptionsAndValues)
{
    if (shell("command -v bash >/dev/null").status != 0)
        GTEST_SKIP() << "no bash";
    auto names = commandNames();
    auto all = complete({ "tidemark", "" });
    for (const auto& n : names)
        EXPECT_TRUE(all.count(n)) << n;
    EXPECT_EQ((std::set<std::string> { "report" }), complete({ "tidemark", "rep" }));

    // Every option each command's help lists, and nothing it does not.
    for (const auto& name : names) {
        auto options = helpOptions(shell(kCli + " " + name + " --help").out);
        EXPECT_EQ(options, complete({ "tidemark", name, "-" })) << name;
    }
    EXPECT_EQ((std::set<std::string> { "text", "json", "markdown" }), complete({ "tidemark", "report", "--format", "" }));
    EXPECT_EQ((std::set<std::string> { "cfi", "fp", "libunwind" }), complete({ "tidemark", "record", "--unwind", "" }));
    EXPECT_EQ((std::set<std::string> { "--unwind" }), complete({ "tidemark", "record", "-o", "x.tmdb", "--unw" }));
    // After the program, the words are the program's: no tidemark options.
    EXPECT_TRUE(complete({ "tidemark", "record", "-o", "x.tmdb", "./train", "--" }).empty());
    EXPECT_TRUE(complete({ "tidemark", "record", "--", "python3", "-" }).empty());
    EXPECT_EQ((std::set<std::string> { "record", "report" }), complete({ "tidemark", "help", "re" }));
}

} // namespace
