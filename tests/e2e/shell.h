// Runs a shell command for the end-to-end tests: its exit status and standard output.
#pragma once

#include <cstdio>
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

} // namespace tidemark::test
