// Listing a run's spool files.
#include "collector/spool_dir.h"

#include <algorithm>
#include <filesystem>
#include <system_error>

namespace tidemark::collector {

Result<std::vector<std::string>> listSpoolFiles(const std::string& dir)
{
    std::error_code ec;
    std::vector<std::string> files;
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
        if (entry.is_regular_file() && entry.path().extension() == ".tmspool")
            files.push_back(entry.path().string());
    }
    if (ec)
        return makeError(ErrorCode::Io, "cannot list spool directory " + dir + ": " + ec.message());
    std::sort(files.begin(), files.end());
    return files;
}

} // namespace tidemark::collector
