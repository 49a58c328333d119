// Runs a shell command for the Python end-to-end tests: its exit status and standard output.
#pragma once

#include <array>
#include <cstdio>
#include <string>
#include <sys/wait.h>

namespace tidemark::pytest {

struct Ran {
    int status = -1; // exit status; -1 when killed or not run
    std::string out;
};

inline Ran run(const std::string& cmd)
{
    Ran r;
    FILE* p = popen(cmd.c_str(), "r");
    if (!p)
        return r;
    std::array<char, 4096> buf;
    size_t n;
    while ((n = fread(buf.data(), 1, buf.size(), p)) > 0)
        r.out.append(buf.data(), n);
    int raw = pclose(p);
    r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
    return r;
}

} // namespace tidemark::pytest
