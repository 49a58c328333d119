// For the end-to-end tests: a shell command's exit status and standard output, and whole files
// read and written.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <sys/wait.h>

namespace tidemark::test {

struct Capture {
    int status = -1; // exit status; -1 when killed or not run
    std::string out;
};

inline Capture shell(const std::string& cmd)
{
    Capture c;
    FILE* p = ::popen(cmd.c_str(), "r");
    if (!p)
        return c;
    char buf[65536];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0)
        c.out.append(buf, n);
    int raw = ::pclose(p);
    c.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
    return c;
}

// The file's bytes ("" when it cannot be read).
inline std::string readFile(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

inline void writeFile(const std::string& path, const std::string& text)
{
    std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

// The start of a `tidemark record` command line. Under scripts/sanitize.sh thread the target is built
// with ThreadSanitizer, whose runtime must be the first library loaded: TIDEMARK_TEST_TARGET_PRELOAD
// names it, and record keeps it ahead of the capture library (not exported to every shell: dash and
// sqlite3 die with it preloaded).
inline std::string recordCommand(const std::string& cli)
{
    const char* first = std::getenv("TIDEMARK_TEST_TARGET_PRELOAD");
    return (first && *first ? "LD_PRELOAD='" + std::string(first) + "' " : std::string()) + cli + " record";
}

} // namespace tidemark::test
