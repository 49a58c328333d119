// Reading importer inputs into memory: whole files, gzip members (with a cap on the inflated size, so a
// hostile "gzip bomb" is an error and not an exhausted machine) and the regular files of a ustar archive.
#pragma once

#include "trace/result.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tidemark::import {

constexpr uint64_t kMaxInflatedBytes = uint64_t { 8 } << 30;
// Past kRatioCheckFloorBytes, output more than kMaxInflateRatio times the compressed input stops the
// read: real traces and snapshots compress 3- to 30-fold (../shared/realdata), runs of one byte
// about 1000-fold, so a small file cannot make tidemark hold gigabytes.
constexpr uint64_t kMaxInflateRatio = 200;
constexpr uint64_t kRatioCheckFloorBytes = uint64_t { 64 } << 20;

Result<std::string> readWholeFile(const std::string& path);

bool isGzip(std::string_view data);
// Inflates every gzip member of data. Errors: Corrupt (truncated or damaged), Usage (over maxBytes).
Result<std::string> gunzip(std::string_view data, uint64_t maxBytes = kMaxInflatedBytes);

struct TarEntry {
    std::string name;
    std::string_view data; // points into the archive buffer
};

bool isTar(std::string_view data);
// Regular files of a POSIX ustar / GNU tar archive, in archive order. Errors: Corrupt.
Result<std::vector<TarEntry>> listTar(std::string_view archive);

} // namespace tidemark::import
