// What the format-specific importers share: their entry points and a progress reporter. Internal to
// analysis/import; callers use import.h.
#pragma once

#include "analysis/import/import.h"
#include "analysis/import/input_bytes.h"
#include "analysis/import/recording_writer.h"

#include <string>
#include <string_view>

namespace tidemark::import {

struct ImportContext {
    std::string inputName; // file name for meta and messages
    ImportProgress progress;
    void report(std::string_view stage, double fraction) const
    {
        if (progress)
            progress(stage, fraction);
    }
};

// SQLite's own error for an input file, made one short line: the reason without the statement text.
inline Error inputSqliteError(const std::string& path, const Error& e)
{
    size_t colon = e.message.rfind(": ");
    std::string reason = colon == std::string::npos ? e.message : e.message.substr(colon + 2);
    if (e.code == ErrorCode::Corrupt || e.code == ErrorCode::NotARecording)
        return makeError(ErrorCode::Corrupt, path + ": damaged or truncated SQLite file (" + reason + ")",
            "re-export the report: nsys export --type sqlite report.nsys-rep");
    return makeError(e.code, path + ": " + reason, e.hint);
}

// Each fills the writer (meta, spaces, rows) and returns the first error; the caller commits and finalizes.
Status importTorchSnapshot(InputStream pickle, RecordingWriter& out, const ImportContext& ctx);
Status importKineto(std::string_view data, RecordingWriter& out, const ImportContext& ctx); // JSON, gzip or tar
Status importNsys(const std::string& path, RecordingWriter& out, const ImportContext& ctx);

} // namespace tidemark::import
