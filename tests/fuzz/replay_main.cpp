// Replays files through a fuzz target without libFuzzer: `fuzz_NAME PATH...`, where each PATH is a
// file or a directory (read recursively). A crash or a sanitizer report fails the run; the exit code
// is 0 when every input went through, 2 when a path cannot be read or no input was found.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

bool replay(const std::filesystem::path& file)
{
    std::ifstream in(file, std::ios::binary);
    if (!in)
        return false;
    std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
    return true;
}

} // namespace

int main(int argc, char** argv)
{
    // Paths are made absolute first: a target may change the working directory (fuzz_cli does).
    std::vector<std::filesystem::path> files;
    for (int i = 1; i < argc; ++i) {
        std::error_code ec;
        if (std::filesystem::is_directory(argv[i], ec)) {
            for (const auto& e : std::filesystem::recursive_directory_iterator(argv[i]))
                if (e.is_regular_file())
                    files.push_back(std::filesystem::absolute(e.path()));
        } else if (std::filesystem::is_regular_file(argv[i], ec)) {
            files.push_back(std::filesystem::absolute(argv[i]));
        } else {
            std::fprintf(stderr, "%s: cannot read %s\n", argv[0], argv[i]);
            return 2;
        }
    }
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
        if (!replay(f)) {
            std::fprintf(stderr, "%s: cannot read %s\n", argv[0], f.c_str());
            return 2;
        }
    }
    std::printf("%zu inputs replayed\n", files.size());
    return files.empty() ? 2 : 0;
}
