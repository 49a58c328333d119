// Reading importer inputs into memory: whole files, gzip members (with a cap on the inflated size, so a
// hostile "gzip bomb" is an error and not an exhausted machine) and the regular files of a ustar archive.
#pragma once

#include "trace/result.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <streambuf>
#include <string>
#include <string_view>

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

// The same inflation as a stream, 64 KiB at a time, so a reader parses a trace without holding it
// decompressed; the same bounds and errors. After the stream ends early (EOF from underflow) error()
// says why, or is empty when the input simply ended.
class GunzipStreamBuf : public std::streambuf {
public:
    explicit GunzipStreamBuf(std::string_view compressed, uint64_t maxBytes = kMaxInflatedBytes);
    ~GunzipStreamBuf() override;
    GunzipStreamBuf(const GunzipStreamBuf&) = delete;
    GunzipStreamBuf& operator=(const GunzipStreamBuf&) = delete;

    const std::optional<Error>& error() const { return m_error; }
    // The inflated bytes not read yet of the current 64 KiB (after sgetc(), the first ones: enough
    // to tell a tar archive from a trace).
    std::string_view buffered() const { return { gptr(), static_cast<size_t>(egptr() - gptr()) }; }
    // The fraction of the compressed input inflated so far (progress).
    double fractionRead() const;
    // The next inflated bytes, consumed (empty at the end or on an error); valid until the next read.
    std::string_view next();

protected:
    int_type underflow() override;

private:
    std::string_view m_in;
    uint64_t m_maxBytes;
    uint64_t m_out = 0; // inflated bytes so far
    bool m_done = false;
    std::optional<Error> m_error;
    std::string m_buf;
    struct Zlib;
    std::unique_ptr<Zlib> m_z;
};

// A stream over bytes already in memory (what GunzipStreamBuf is for compressed ones).
class MemoryStreamBuf : public std::streambuf {
public:
    explicit MemoryStreamBuf(std::string_view data);
    double fractionRead() const;

private:
    std::string_view m_data;
};

// An importer's input as a stream (bytes in memory, or inflated as they are read), how far through
// it the reader is, and why it ended early when it did (a damaged or oversized gzip stream).
struct InputStream {
    std::streambuf& stream;
    std::function<double()> fraction;
    const std::optional<Error>* streamError = nullptr;

    static InputStream of(MemoryStreamBuf& in)
    {
        return { in, [&in] { return in.fractionRead(); } };
    }
    static InputStream of(GunzipStreamBuf& in)
    {
        return { in, [&in] { return in.fractionRead(); }, &in.error() };
    }
    // The stream's own error, when it ended early.
    const Error* failure() const { return streamError && *streamError ? &**streamError : nullptr; }
};

bool isTar(std::string_view data);

// The regular files of a POSIX ustar / GNU tar archive, read from a stream in archive order: one file
// at a time, its bytes taken from the archive's stream as they are read, so a bundle of ranks is never
// held whole (nor inflated whole when the stream is a GunzipStreamBuf).
class TarReader {
public:
    explicit TarReader(std::streambuf& archive);
    ~TarReader();
    TarReader(const TarReader&) = delete;
    TarReader& operator=(const TarReader&) = delete;

    // Moves past what is left of the current file to the next regular one and returns its name, or
    // nullopt at the end of the archive. Errors: Corrupt (a damaged header, the archive truncated).
    Result<std::optional<std::string>> next();
    // The current file's bytes, until next(); as a stream that says "truncated" when it ends early.
    InputStream entry();
    // The first bytes of the current file not read yet (up to 64 KiB; enough to tell gzip from text).
    std::string_view peek();

private:
    class Entry;
    Status skip(uint64_t bytes);
    std::streambuf& m_in;
    uint64_t m_offset = 0; // archive bytes consumed before the current file's
    std::unique_ptr<Entry> m_entry;
};

} // namespace tidemark::import
