// Test-side digest of capture output: reads spool files with trace::SpoolReader and reduces them to
// what the capture tests compare against a program's own ground truth (counts and bytes per API,
// live set, peak, stacks, modules, exit records, stats), optionally cut to marker-bracketed windows.
#pragma once

#include "trace/spool_reader.h"

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace tidemark::test {

struct ApiTotals {
    uint64_t count = 0;
    uint64_t bytes = 0;
};

struct LiveBlock {
    uint64_t size = 0;
    uint16_t api = 0;
    uint32_t stack = 0;
};

struct ModuleInfo {
    std::string path;
    uint64_t bias = 0, start = 0, end = 0;
    unsigned buildIdLen = 0;
};

struct SpoolSummary {
    std::string path;
    wire::SpoolFileHeader header {};
    trace::SpoolScan scan;
    std::string exe;
    std::vector<std::string> argv;
    std::map<uint16_t, ApiTotals> allocs; // by Api value
    std::map<uint16_t, uint64_t> frees;   // by Api value of the free record
    std::map<uint64_t, LiveBlock> live;   // address -> block live at the end of the file (or window)
    uint64_t liveBytes = 0;
    uint64_t peakBytes = 0;
    uint64_t unmatchedFrees = 0;
    std::map<uint32_t, std::vector<uint64_t>> stacks;
    std::vector<ModuleInfo> modules;
    uint64_t moduleUnloads = 0;
    std::map<uint32_t, std::string> threadNames;
    std::vector<uint32_t> exitReasons;
    std::map<std::string, uint64_t> stats;      // last value of each Stat name
    std::map<std::string, std::string> details; // its detail text
    uint64_t hostEvents = 0;
    uint64_t lastEventNs = 0;
    std::set<uint32_t> markerThreads; // threads that had a complete marker window
};

// Reads one spool file. With markBegin/markEnd non-zero, only events between a thread's
// malloc(markBegin) and malloc(markEnd) count (the markers themselves excluded); peak and live set
// are computed over those events in timestamp order.
bool summarizeSpool(const std::string& path, SpoolSummary& out, std::string& error, uint64_t markBegin = 0,
    uint64_t markEnd = 0);

// Spool files in dir (*.tmspool), sorted by name.
std::vector<std::string> spoolFilesIn(const std::string& dir);

} // namespace tidemark::test
