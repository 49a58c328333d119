// Whole-file reads, zlib inflation of gzip members and a minimal streaming ustar reader for per-rank
// trace bundles.
#include "analysis/import/input_bytes.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>

namespace tidemark::import {

Result<std::string> readWholeFile(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    if (!in)
        return makeError(ErrorCode::Io, "cannot open " + path + ": " + std::strerror(errno));
    std::string data;
    in.seekg(0, std::ios::end);
    auto size = in.tellg();
    if (size < 0)
        return makeError(ErrorCode::Io, "cannot read " + path);
    data.resize(static_cast<size_t>(size));
    in.seekg(0);
    if (!in.read(data.data(), static_cast<std::streamsize>(data.size())))
        return makeError(ErrorCode::Io, "cannot read " + path);
    return data;
}

bool isGzip(std::string_view data)
{
    return data.size() >= 2 && static_cast<uint8_t>(data[0]) == 0x1f && static_cast<uint8_t>(data[1]) == 0x8b;
}

struct GunzipStreamBuf::Zlib {
    z_stream zs {};
    bool initialised = false;
    ~Zlib()
    {
        if (initialised)
            inflateEnd(&zs);
    }
};

GunzipStreamBuf::GunzipStreamBuf(std::string_view compressed, uint64_t maxBytes)
    : m_in(compressed)
    , m_maxBytes(maxBytes)
    , m_buf(1 << 16, '\0')
    , m_z(std::make_unique<Zlib>())
{
    setg(m_buf.data(), m_buf.data(), m_buf.data());
    if (compressed.size() > UINT32_MAX) {
        m_error = Error { ErrorCode::Usage, "gzip input larger than 4 GiB; decompress it first", {} };
        return;
    }
    if (inflateInit2(&m_z->zs, 16 + MAX_WBITS) != Z_OK) {
        m_error = Error { ErrorCode::Io, "zlib initialisation failed", {} };
        return;
    }
    m_z->initialised = true;
    m_z->zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(compressed.data()));
    m_z->zs.avail_in = static_cast<uInt>(compressed.size());
}

GunzipStreamBuf::~GunzipStreamBuf() = default;

double GunzipStreamBuf::fractionRead() const
{
    return m_in.empty() ? 1.0 : 1.0 - static_cast<double>(m_z->zs.avail_in) / static_cast<double>(m_in.size());
}

GunzipStreamBuf::int_type GunzipStreamBuf::underflow()
{
    if (gptr() < egptr())
        return traits_type::to_int_type(*gptr());
    if (m_done || m_error)
        return traits_type::eof();
    z_stream& zs = m_z->zs;
    size_t produced = 0;
    while (produced == 0) {
        zs.next_out = reinterpret_cast<Bytef*>(m_buf.data());
        zs.avail_out = static_cast<uInt>(m_buf.size());
        int rc = inflate(&zs, Z_NO_FLUSH);
        if (rc != Z_OK && rc != Z_STREAM_END) {
            m_error = Error { ErrorCode::Corrupt, rc == Z_BUF_ERROR ? "gzip data truncated" : "gzip data damaged",
                "the compressed file is incomplete or not gzip; `gzip -t` on it says more" };
            return traits_type::eof();
        }
        produced = m_buf.size() - zs.avail_out;
        m_out += produced;
        if (m_out > m_maxBytes) {
            m_error = Error { ErrorCode::Usage, "gzip input inflates beyond " + std::to_string(m_maxBytes >> 20) + " MiB", {} };
            return traits_type::eof();
        }
        if (m_out > kRatioCheckFloorBytes && m_out / kMaxInflateRatio > m_in.size()) {
            m_error = Error { ErrorCode::Corrupt,
                "gzip input expands more than " + std::to_string(kMaxInflateRatio) + "-fold (" + std::to_string(m_out >> 20)
                    + " MiB from " + std::to_string(m_in.size() >> 10) + " KiB so far): not a trace or snapshot, which "
                    "compress 10 to 30-fold; reading stopped",
                "if the file is genuine, decompress it yourself (gzip -d) and import the result" };
            return traits_type::eof();
        }
        if (rc == Z_STREAM_END) {
            // Concatenated members are one stream to gunzip; trailing non-gzip bytes are ignored as it does.
            std::string_view rest(reinterpret_cast<const char*>(zs.next_in), zs.avail_in);
            if (!isGzip(rest)) {
                m_done = true;
                break;
            }
            inflateReset(&zs);
        }
    }
    setg(m_buf.data(), m_buf.data(), m_buf.data() + produced);
    return produced ? traits_type::to_int_type(*gptr()) : traits_type::eof();
}

MemoryStreamBuf::MemoryStreamBuf(std::string_view data)
    : m_data(data)
{
    char* begin = const_cast<char*>(data.data());
    setg(begin, begin, begin + data.size());
}

double MemoryStreamBuf::fractionRead() const
{
    return m_data.empty() ? 1.0 : static_cast<double>(gptr() - eback()) / static_cast<double>(m_data.size());
}

std::string_view GunzipStreamBuf::next()
{
    if (sgetc() == traits_type::eof())
        return {};
    std::string_view chunk = buffered();
    setg(egptr(), egptr(), egptr());
    return chunk;
}

Result<std::string> gunzip(std::string_view data, uint64_t maxBytes)
{
    GunzipStreamBuf stream(data, maxBytes);
    std::string out;
    for (std::string_view chunk = stream.next(); !chunk.empty(); chunk = stream.next())
        out.append(chunk);
    if (stream.error())
        return *stream.error();
    return out;
}

bool isTar(std::string_view data)
{
    return data.size() >= 512 && data.substr(257, 5) == "ustar";
}

namespace {
// Octal numeric field of a tar header (NUL/space terminated); -1 when malformed.
int64_t tarNumber(std::string_view field)
{
    int64_t v = 0;
    bool any = false;
    for (char c : field) {
        if (c == '\0' || c == ' ') {
            if (any)
                break;
            continue;
        }
        if (c < '0' || c > '7' || v > (INT64_MAX >> 3))
            return -1;
        v = v * 8 + (c - '0');
        any = true;
    }
    return v;
}

std::string cstr(std::string_view field) { return std::string(field.substr(0, field.find('\0'))); }
} // namespace

// The bytes of one archive member: at most `size` from the archive's stream, 64 KiB at a time.
class TarReader::Entry : public std::streambuf {
public:
    Entry(std::streambuf& archive, std::string name, uint64_t size)
        : m_archive(archive)
        , m_name(std::move(name))
        , m_size(size)
        , m_left(size)
    {
    }

    uint64_t size() const { return m_size; }
    uint64_t unread() const { return m_left + static_cast<uint64_t>(egptr() - gptr()); }
    uint64_t takenFromArchive() const { return m_size - m_left; }
    const std::optional<Error>& error() const { return m_error; }
    double fractionRead() const
    {
        return m_size ? static_cast<double>(m_size - unread()) / static_cast<double>(m_size) : 1.0;
    }
    std::string_view buffered() const { return { gptr(), static_cast<size_t>(egptr() - gptr()) }; }

protected:
    int_type underflow() override
    {
        if (gptr() < egptr())
            return traits_type::to_int_type(*gptr());
        if (m_left == 0)
            return traits_type::eof();
        m_buf.resize(static_cast<size_t>(std::min<uint64_t>(m_left, 64 << 10)));
        auto got = m_archive.sgetn(m_buf.data(), static_cast<std::streamsize>(m_buf.size()));
        if (got <= 0) {
            m_error = Error { ErrorCode::Corrupt, "tar archive truncated inside " + m_name, {} };
            m_left = 0;
            return traits_type::eof();
        }
        m_left -= static_cast<uint64_t>(got);
        setg(m_buf.data(), m_buf.data(), m_buf.data() + got);
        return traits_type::to_int_type(*gptr());
    }

private:
    std::streambuf& m_archive;
    std::string m_name;
    uint64_t m_size;
    uint64_t m_left; // not yet taken from the archive
    std::string m_buf;
    std::optional<Error> m_error;
};

TarReader::TarReader(std::streambuf& archive)
    : m_in(archive)
{
}

TarReader::~TarReader() = default;

Status TarReader::skip(uint64_t bytes)
{
    char scratch[4096];
    while (bytes > 0) {
        auto want = static_cast<std::streamsize>(std::min<uint64_t>(bytes, sizeof scratch));
        auto got = m_in.sgetn(scratch, want);
        m_offset += static_cast<uint64_t>(std::max<std::streamsize>(got, 0));
        if (got < want)
            return makeError(ErrorCode::Corrupt, "tar archive truncated");
        bytes -= static_cast<uint64_t>(got);
    }
    return okStatus();
}

Result<std::optional<std::string>> TarReader::next()
{
    auto padding = [](uint64_t size) { return (512 - size % 512) % 512; };
    if (m_entry) {
        // What the reader left of the file (beyond what it buffered), then the padding to 512.
        uint64_t taken = m_entry->takenFromArchive();
        m_offset += taken;
        Status s = m_entry->error() ? makeError(m_entry->error()->code, m_entry->error()->message)
                                    : skip(m_entry->size() - taken + padding(m_entry->size()));
        m_entry.reset();
        if (!s)
            return s.error();
    }
    std::string longName;
    for (;;) {
        char block[512];
        auto got = m_in.sgetn(block, sizeof block);
        if (got <= 0)
            return std::optional<std::string>(); // the archive ended without its end-of-archive blocks
        if (got < 512)
            return makeError(ErrorCode::Corrupt, "tar archive truncated");
        std::string_view h(block, sizeof block);
        uint64_t headerAt = m_offset;
        m_offset += 512;
        if (h.find_first_not_of('\0') == std::string_view::npos)
            return std::optional<std::string>(); // end-of-archive block
        int64_t size = tarNumber(h.substr(124, 12));
        if (size < 0)
            return makeError(ErrorCode::Corrupt, "tar header damaged at byte " + std::to_string(headerAt));
        auto bytes = static_cast<uint64_t>(size);
        char type = h[156];
        if (type == '0' || type == '\0') {
            std::string name = longName.empty() ? cstr(h.substr(0, 100)) : longName;
            if (longName.empty() && h.substr(257, 5) == "ustar" && h[345] != '\0')
                name = cstr(h.substr(345, 155)) + "/" + name;
            m_entry = std::make_unique<Entry>(m_in, name, bytes);
            return std::optional<std::string>(std::move(name));
        }
        if (type == 'L' && bytes <= 64 << 10) { // GNU long name: the next member's
            std::string body(static_cast<size_t>(bytes), '\0');
            if (m_in.sgetn(body.data(), static_cast<std::streamsize>(bytes)) != static_cast<std::streamsize>(bytes))
                return makeError(ErrorCode::Corrupt, "tar archive truncated");
            m_offset += bytes;
            longName = cstr(body);
            if (Status s = skip(padding(bytes)); !s)
                return s.error();
            continue;
        }
        longName.clear(); // directories, links, pax headers: nothing to import
        if (Status s = skip(bytes + padding(bytes)); !s)
            return s.error();
    }
}

InputStream TarReader::entry()
{
    Entry& e = *m_entry;
    return { e, [&e] { return e.fractionRead(); }, &e.error() };
}

std::string_view TarReader::peek()
{
    m_entry->sgetc();
    return m_entry->buffered();
}

} // namespace tidemark::import
