#include "tests/fuzz/fuzz_support.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace tidemark::fuzz {
namespace {

struct Scratch {
    std::string path;
    Scratch()
    {
        std::string pattern = (std::filesystem::temp_directory_path() / "tidemark-fuzz-XXXXXX").string();
        if (!mkdtemp(pattern.data()))
            throw std::runtime_error("cannot create a scratch directory");
        path = pattern;
    }
    ~Scratch()
    {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
};

} // namespace

const std::string& scratchDir()
{
    static Scratch scratch;
    return scratch.path;
}

std::string writeScratch(const std::string& name, std::string_view data)
{
    std::string path = scratchDir() + "/" + name;
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(data.data(), std::streamsize(data.size()));
    if (!out)
        throw std::runtime_error("cannot write " + path);
    return path;
}

} // namespace tidemark::fuzz
