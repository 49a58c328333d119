// Whole-file reads, zlib inflation of gzip members and a minimal ustar walker for per-rank trace bundles.
#include "analysis/import/input_bytes.h"

#include <zlib.h>

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

Result<std::vector<TarEntry>> listTar(std::string_view archive)
{
    std::vector<TarEntry> entries;
    std::string longName;
    size_t pos = 0;
    while (pos + 512 <= archive.size()) {
        std::string_view h = archive.substr(pos, 512);
        if (h.find_first_not_of('\0') == std::string_view::npos)
            return entries; // end-of-archive block
        int64_t size = tarNumber(h.substr(124, 12));
        if (size < 0)
            return makeError(ErrorCode::Corrupt, "tar header damaged at byte " + std::to_string(pos));
        char type = h[156];
        size_t dataPos = pos + 512;
        if (static_cast<uint64_t>(size) > archive.size() - dataPos)
            return makeError(ErrorCode::Corrupt, "tar archive truncated inside " + cstr(h.substr(0, 100)));
        std::string_view body = archive.substr(dataPos, static_cast<size_t>(size));
        if (type == 'L') {
            longName = cstr(body);
        } else if (type == '0' || type == '\0') {
            std::string name = longName.empty() ? cstr(h.substr(0, 100)) : longName;
            if (longName.empty() && h.substr(257, 5) == "ustar" && h[345] != '\0')
                name = cstr(h.substr(345, 155)) + "/" + name;
            entries.push_back({ std::move(name), body });
            longName.clear();
        } else {
            longName.clear(); // directories, links, pax headers: nothing to import
        }
        pos = dataPos + ((static_cast<size_t>(size) + 511) / 512) * 512;
    }
    if (pos != archive.size())
        return makeError(ErrorCode::Corrupt, "tar archive truncated");
    return entries;
}

} // namespace tidemark::import
