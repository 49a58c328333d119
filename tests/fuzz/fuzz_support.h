// Shared by the fuzz targets: a private scratch directory per process and a way to hand the input
// to readers that take a path. Each target defines LLVMFuzzerTestOneInput; built with
// -fsanitize=fuzzer it is a libFuzzer binary (scripts/fuzz.sh), otherwise it links replay_main.cpp
// and replays its seed corpus and regressions as a ctest test.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace tidemark::fuzz {

// A directory made for this process (removed at exit).
const std::string& scratchDir();

// Writes data to scratchDir()/name, replacing it, and returns the path.
std::string writeScratch(const std::string& name, std::string_view data);

inline std::string_view asView(const uint8_t* data, size_t size)
{
    return {reinterpret_cast<const char*>(data), size};
}

} // namespace tidemark::fuzz
