// The keys of the `meta` table (docs/schema.md, section meta), defined once for the code that writes
// them (record, the importers, the series writer) and the code that reads them (analysis).
#pragma once

#include <string_view>

namespace tidemark::trace {

// Written by `tidemark record`.
inline constexpr std::string_view kMetaRecorder = "recorder";
inline constexpr std::string_view kMetaTidemarkVersion = "tidemark_version";
inline constexpr std::string_view kMetaCommandLine = "command_line";
inline constexpr std::string_view kMetaProgram = "program"; // importers too: the input's name
inline constexpr std::string_view kMetaCwd = "cwd";
inline constexpr std::string_view kMetaHost = "host";
inline constexpr std::string_view kMetaRank = "rank";
inline constexpr std::string_view kMetaPid = "pid";
inline constexpr std::string_view kMetaStartTime = "start_time";
inline constexpr std::string_view kMetaEndTime = "end_time";
inline constexpr std::string_view kMetaStartTsNs = "start_ts_ns";
inline constexpr std::string_view kMetaEndTsNs = "end_ts_ns";
inline constexpr std::string_view kMetaDurationNs = "duration_ns";
inline constexpr std::string_view kMetaClock = "clock"; // importers too: the input's own clock
inline constexpr std::string_view kMetaExitStatus = "exit_status";
inline constexpr std::string_view kMetaExitSignal = "exit_signal";
inline constexpr std::string_view kMetaExitCode = "exit_code";
inline constexpr std::string_view kMetaCutShort = "cut_short";
inline constexpr std::string_view kMetaCutShortReason = "cut_short_reason";
inline constexpr std::string_view kMetaStackDepth = "stack_depth";
inline constexpr std::string_view kMetaUnwind = "unwind";
inline constexpr std::string_view kMetaCaptureHost = "capture_host";
inline constexpr std::string_view kMetaCaptureCupti = "capture_cupti";
inline constexpr std::string_view kMetaCaptureNvtx = "capture_nvtx";
inline constexpr std::string_view kMetaCaptureTorch = "capture_torch";
inline constexpr std::string_view kMetaFollowFork = "follow_fork";
inline constexpr std::string_view kMetaSpoolFiles = "spool_files";

// The value of kMetaRecorder in a recording `tidemark record` made.
inline constexpr std::string_view kRecorderRecord = "tidemark record";

// Read as "the run was cut short" when present; no writer of this tidemark sets them.
inline constexpr std::string_view kMetaCaptureStatus = "capture_status"; // anything but "complete"
inline constexpr std::string_view kMetaEndDetail = "end_detail";

// Written by the series writer when a recording is finalized (trace/series.h).
inline constexpr std::string_view kMetaSeriesOriginNs = "series_origin_ns";
inline constexpr std::string_view kMetaSeriesBaseNs = "series_base_ns";
inline constexpr std::string_view kMetaSeriesLevels = "series_levels";

// Written by `tidemark import`.
inline constexpr std::string_view kMetaSource = "source"; // import:kineto, import:nsys, import:torch-snapshot
inline constexpr std::string_view kMetaDescription = "description";
inline constexpr std::string_view kMetaImportFormat = "import.format";
inline constexpr std::string_view kMetaImportInput = "import.input";
inline constexpr std::string_view kMetaKinetoMemory = "kineto.memory";
inline constexpr std::string_view kMetaNsysVersion = "nsys.version";
inline constexpr std::string_view kMetaNsysSchemaVersion = "nsys.schema_version";
inline constexpr std::string_view kMetaNsysMemory = "nsys.memory";
inline constexpr std::string_view kMetaTorchAllocatorSettings = "torch.allocator_settings";

// Every key above, for the test that checks docs/schema.md documents each (add a new key here too).
inline constexpr std::string_view kMetaKeys[] = { kMetaRecorder, kMetaTidemarkVersion, kMetaCommandLine, kMetaProgram,
    kMetaCwd, kMetaHost, kMetaRank, kMetaPid, kMetaStartTime, kMetaEndTime, kMetaStartTsNs, kMetaEndTsNs,
    kMetaDurationNs, kMetaClock, kMetaExitStatus, kMetaExitSignal, kMetaExitCode, kMetaCutShort, kMetaCutShortReason,
    kMetaStackDepth, kMetaUnwind, kMetaCaptureHost, kMetaCaptureCupti, kMetaCaptureNvtx, kMetaCaptureTorch,
    kMetaFollowFork, kMetaSpoolFiles, kMetaCaptureStatus, kMetaEndDetail, kMetaSeriesOriginNs, kMetaSeriesBaseNs,
    kMetaSeriesLevels, kMetaSource, kMetaDescription, kMetaImportFormat, kMetaImportInput, kMetaKinetoMemory,
    kMetaNsysVersion, kMetaNsysSchemaVersion, kMetaNsysMemory, kMetaTorchAllocatorSettings };

} // namespace tidemark::trace
