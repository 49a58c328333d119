// The spool directory of one `tidemark record` run: one spool file per traced process image.
#pragma once

#include "trace/result.h"

#include <string>
#include <vector>

namespace tidemark::collector {

// Spool files (*.tmspool) in dir, ordered by name (pid, then image sequence).
Result<std::vector<std::string>> listSpoolFiles(const std::string& dir);

} // namespace tidemark::collector
