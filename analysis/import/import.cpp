// Format detection from content, and the import driver: read, dispatch to the format's importer, commit,
// finalize, and remove the half-written output on any error.
#include "analysis/import/import.h"

#include "trace/finalize.h"
#include "analysis/import/import_internal.h"
#include "analysis/import/input_bytes.h"
#include "trace/meta_keys.h"
#include "trace/recording.h"

#include <cstdio>
#include <filesystem>

namespace tidemark::import {

namespace {

constexpr std::string_view kSqliteMagic("SQLite format 3\0", 16);

Error unknownFormat(const std::string& path)
{
    return makeError(ErrorCode::Unsupported, path + ": not a format tidemark imports",
        "tidemark import reads PyTorch memory snapshots (.pickle), Kineto/Chrome trace JSON (.json, .json.gz, "
        ".tar.gz of ranks) and Nsight Systems SQLite exports (nsys export --type sqlite)");
}

bool looksLikeJson(std::string_view data)
{
    size_t p = data.find_first_not_of(" \t\r\n");
    if (p != std::string_view::npos && data.substr(p, 3) == "\xEF\xBB\xBF") // UTF-8 BOM
        p = data.find_first_not_of(" \t\r\n", p + 3);
    return p != std::string_view::npos && (data[p] == '{' || data[p] == '[');
}

// Protocol 2+ pickles start with PROTO; protocol 0/1 ones with MARK, EMPTY_LIST or EMPTY_DICT.
bool looksLikePickle(std::string_view data)
{
    if (data.empty())
        return false;
    uint8_t b = static_cast<uint8_t>(data[0]);
    return (b == 0x80 && data.size() > 1 && static_cast<uint8_t>(data[1]) <= 5) || b == '(' || b == '}' || b == ']';
}

Result<Format> classifySqlite(const std::string& path)
{
    auto db = trace::Db::open(path, trace::Db::Mode::ReadOnly);
    if (!db)
        return inputSqliteError(path, db.error());
    auto appId = db->queryInt("PRAGMA application_id");
    if (appId && *appId == trace::kApplicationId)
        return makeError(ErrorCode::Unsupported, path + " is already a tidemark recording", "open it with `tidemark report` or the GUI");
    auto n = db->queryInt("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND (name = 'StringIds'"
                          " OR name LIKE 'CUPTI_ACTIVITY_KIND_%' OR name LIKE 'TARGET_INFO_%')");
    if (!n)
        return inputSqliteError(path, n.error());
    if (*n == 0)
        return makeError(ErrorCode::Unsupported, path + ": SQLite file without Nsight Systems tables",
            "export the report with `nsys export --type sqlite report.nsys-rep`");
    return Format::Nsys;
}

Result<Format> classifyBytes(const std::string& path, std::string_view head)
{
    if (head.substr(0, 16) == kSqliteMagic)
        return classifySqlite(path);
    if (isGzip(head)) {
        // What the first inflated bytes are: a gzipped pickle is a snapshot, anything else a trace.
        GunzipStreamBuf gz(head);
        gz.sgetc();
        return looksLikePickle(gz.buffered()) ? Format::TorchSnapshot : Format::Kineto;
    }
    if (looksLikeJson(head) || isTar(head))
        return Format::Kineto;
    if (looksLikePickle(head))
        return Format::TorchSnapshot;
    return unknownFormat(path);
}

} // namespace

std::optional<Format> parseFormat(std::string_view name)
{
    if (name == "auto")
        return Format::Auto;
    if (name == "torch-snapshot")
        return Format::TorchSnapshot;
    if (name == "kineto")
        return Format::Kineto;
    if (name == "nsys")
        return Format::Nsys;
    return std::nullopt;
}

std::string_view formatName(Format format)
{
    switch (format) {
    case Format::Auto: return "auto";
    case Format::TorchSnapshot: return "torch-snapshot";
    case Format::Kineto: return "kineto";
    case Format::Nsys: return "nsys";
    }
    return "auto";
}

Result<Format> detectFormat(const std::string& path)
{
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (!f)
        return makeError(ErrorCode::Io, "cannot open " + path);
    char buf[1024];
    size_t n = std::fread(buf, 1, sizeof buf, f);
    std::fclose(f);
    if (n == 0)
        return makeError(ErrorCode::Corrupt, path + " is empty");
    return classifyBytes(path, std::string_view(buf, n));
}

namespace {

Status runImporter(Format format, const std::string& input, RecordingWriter& out, const ImportContext& ctx)
{
    if (format == Format::Nsys) {
        auto f = detectFormat(input); // refuses tidemark recordings and non-nsys SQLite
        if (!f)
            return f.error();
        if (*f != Format::Nsys)
            return makeError(ErrorCode::Unsupported, input + " is not an Nsight Systems SQLite export");
        return importNsys(input, out, ctx);
    }
    ctx.report("reading", 0.0);
    auto data = readWholeFile(input);
    if (!data)
        return data.error();
    if (data->empty())
        return makeError(ErrorCode::Corrupt, input + " is empty");
    ctx.report("reading", 1.0);
    if (format == Format::TorchSnapshot) {
        if (isGzip(*data)) {
            GunzipStreamBuf gz(*data); // inflated as the pickle is parsed
            return importTorchSnapshot(InputStream::of(gz), out, ctx);
        }
        MemoryStreamBuf bytes(*data);
        return importTorchSnapshot(InputStream::of(bytes), out, ctx);
    }
    return importKineto(*data, out, ctx);
}

Result<ImportSummary> summarize(trace::Db& db, Format format)
{
    ImportSummary s;
    s.format = format;
    const std::pair<int64_t*, const char*> queries[] = {
        { &s.processes, "SELECT count(*) FROM processes" },
        { &s.allocations, "SELECT count(*) FROM allocations" },
        { &s.frees, "SELECT count(*) FROM allocations WHERE free_ts_ns IS NOT NULL" },
        { &s.kernels, "SELECT count(*) FROM kernels" },
        { &s.ranges, "SELECT count(*) FROM ranges" },
        { &s.failedAllocations, "SELECT count(*) FROM failed_allocations" },
    };
    for (const auto& [target, sql] : queries) {
        auto v = db.queryInt(sql);
        if (!v)
            return v.error();
        *target = *v;
    }
    return s;
}

Result<ImportSummary> importInto(const std::string& input, const std::string& output, const ImportOptions& options)
{
    Format format = options.format;
    if (format == Format::Auto) {
        auto detected = detectFormat(input);
        if (!detected)
            return detected.error();
        format = *detected;
    }
    auto writer = RecordingWriter::create(output);
    if (!writer)
        return writer.error();
    ImportContext ctx { std::filesystem::path(input).filename().string(), options.progress };
    if (auto s = runImporter(format, input, **writer, ctx); !s)
        return s.error();
    (*writer)->meta(trace::kMetaImportFormat, formatName(format));
    (*writer)->meta(trace::kMetaImportInput, ctx.inputName);
    if (auto s = (*writer)->commit(); !s)
        return s.error();
    trace::Db& db = (*writer)->db();
    if (auto s = trace::finalizeRecording(db, options.progress); !s)
        return s.error();
    auto summary = summarize(db, format);
    if (!summary)
        return summary;
    if (auto s = trace::sealRecording(db); !s)
        return s.error();
    return summary;
}

} // namespace

Result<ImportSummary> importFile(const std::string& input, const std::string& output, const ImportOptions& options)
{
    if (std::error_code ec; std::filesystem::equivalent(input, output, ec))
        return makeError(ErrorCode::Usage, "the output would overwrite the input " + input);
    auto result = importInto(input, output, options);
    if (!result) {
        std::error_code ec;
        for (const char* suffix : { "", "-wal", "-shm", "-journal" })
            std::filesystem::remove(output + suffix, ec);
    }
    return result;
}

} // namespace tidemark::import
