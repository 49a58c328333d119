// What the Nsight Systems importer's parts share: the export's tables and columns, its string table,
// processes and threads keyed by nsys global ids, and the per-thread NVTX ranges.
#pragma once

#include "analysis/import/import_internal.h"
#include "analysis/import/range_nesting.h"

#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

namespace tidemark::import {

struct NsysExport {
    NsysExport(trace::Db& d, RecordingWriter& o, const ImportContext& c)
        : db(d)
        , out(o)
        , ctx(c)
    {
    }
    trace::Db& db;
    RecordingWriter& out;
    const ImportContext& ctx;
    std::map<std::string, std::set<std::string>> columns; // table -> columns
    std::unordered_map<int64_t, std::string> strings;    // StringIds
    std::map<int64_t, int64_t> processIds;               // pid -> processes.id
    std::map<int64_t, std::string> processNames;         // pid -> name (PROCESSES table)
    std::map<int64_t, std::string> threadNames;          // globalTid -> name
    std::map<int64_t, RangeTable> ranges;                // threads.id -> NVTX ranges
    std::map<int64_t, int64_t> threadProcesses;          // threads.id -> processes.id
    std::map<int64_t, std::set<int64_t>> devicesOfPid;   // devices a process ran kernels / copies on

    bool has(const std::string& table) const { return columns.count(table) != 0; }
    bool has(const std::string& table, const std::string& column) const
    {
        auto it = columns.find(table);
        return it != columns.end() && it->second.count(column);
    }
    const std::string& str(int64_t id) const
    {
        static const std::string empty;
        auto it = strings.find(id);
        return it == strings.end() ? empty : it->second;
    }
    // nsys global ids: pid in bits 24..47, tid in bits 0..23.
    static int64_t pidOf(int64_t globalId) { return (globalId >> 24) & 0xFFFFFF; }
    static int64_t tidOf(int64_t globalId) { return globalId & 0xFFFFFF; }
    int64_t process(int64_t pid);
    int64_t thread(int64_t globalTid);
};

Status nsysMemory(NsysExport& x); // CUDA runtime allocations, frees, failures, memory usage events

} // namespace tidemark::import
