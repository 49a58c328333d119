// `tidemark gui FILE [FILE2]`: starts the desktop timeline, tidemark-gui, found next to this binary
// (the build tree and the install tree both put them in the same bin/), replacing this process so the
// GUI's exit status is the command's.
#include "cli/command.h"

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <string>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace {

const char* kUsage = "usage: tidemark gui FILE [FILE2] [--screenshot OUT.png [--view timeline|summary|segments|flame|diff]\n"
                     "                    [--size WxH]]\n\n"
                     "Opens a recording in tidemark-gui, the desktop timeline: memory per space stacked by phase or\n"
                     "call site, NVTX ranges, kernels, copies and failed allocations. Click a time to see what was\n"
                     "live, shift+drag a range to see what was allocated and freed; trees, flame graph and segment\n"
                     "map follow the selection. With FILE2, the Diff tab compares the two recordings.\n"
                     "\n"
                     "options:\n"
                     "  --screenshot OUT.png  render one view to OUT.png headlessly and exit (no display needed)\n"
                     "  --view V              the view to render: timeline (default), summary, segments, flame\n"
                     "                        or diff (with FILE2)\n"
                     "  --size WxH            the window size of the screenshot in pixels, default 1400x900\n"
                     "  --measure             print the time to the first timeline and the query and repaint\n"
                     "                        times per zoom level, and exit\n"
                     "  -h, --help            show this help\n"
                     "\n"
                     "example:\n"
                     "  tidemark gui run.tmdb\n"
                     "  tidemark gui main.tmdb branch.tmdb\n";

std::string selfDir()
{
    char buf[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n <= 0)
        return {};
    std::string path(buf, static_cast<size_t>(n));
    auto slash = path.rfind('/');
    return slash == std::string::npos ? std::string(".") : path.substr(0, slash);
}

int run(const std::vector<std::string>& args)
{
    if (tidemark::cli::wantsHelp(args)) {
        std::printf("%s", kUsage);
        return 0;
    }
    if (args.empty())
        return tidemark::cli::fail("gui needs a recording", "tidemark gui run.tmdb");
    const std::string gui = selfDir() + "/tidemark-gui";
    struct stat st { };
    if (stat(gui.c_str(), &st) != 0)
        return tidemark::cli::fail("tidemark-gui is not installed next to tidemark (" + gui + ")",
            "build with Qt 6 (qt6-base-dev) installed, or -DTIDEMARK_WITH_GUI=ON");
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(gui.c_str()));
    for (const auto& a : args)
        argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(gui.c_str(), argv.data());
    return tidemark::cli::fail("cannot start " + gui + ": " + std::strerror(errno));
}

tidemark::cli::Registration reg({ "gui", "open a recording in the desktop timeline (tidemark-gui)", run, 300, kUsage });

} // namespace
