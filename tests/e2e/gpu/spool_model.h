// Reads the spool file(s) a traced program wrote (trace::SpoolReader) into plain maps the GPU
// capture tests can query: strings, stacks, ranges, allocations, frees, failures, heaps, regions,
// stats. Also runs a program with extra environment and captures its stdout.
#pragma once

#include "trace/wire.h"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace tidemark::gputest {

struct Model {
    std::map<uint32_t, std::string> strings;
    std::map<uint32_t, std::vector<uint64_t>> stacks;
    std::map<uint32_t, wire::RangeBeginRecord> ranges;
    std::map<uint32_t, uint64_t> rangeEnds; // id -> end ts
    std::vector<wire::AllocRecord> allocs;
    std::vector<wire::FreeRecord> frees;
    std::vector<wire::AllocFailedRecord> failures;
    std::vector<wire::HostAllocRecord> hostAllocs;
    std::vector<wire::HeapRegisterRecord> heaps;
    std::vector<wire::RegionRegisterRecord> regions;
    std::vector<std::pair<wire::Kind, wire::RegionEventRecord>> regionEvents;
    std::vector<wire::MarkRecord> marks;
    std::vector<wire::KernelRecord> kernels;
    std::vector<wire::MemcpyRecord> memcpys;
    std::vector<wire::MemsetRecord> memsets;
    std::vector<wire::SampleRecord> samples;
    std::map<std::string, std::pair<uint64_t, std::string>> stats; // last value and detail by name
    uint32_t pid = 0; // of the (last) spool file loaded
    uint64_t records = 0;
    uint64_t badRecords = 0;

    std::string text(uint32_t id) const;
    std::string rangeName(uint32_t rangeId) const; // "" for 0 / unknown
};

// Loads one spool file, or every *.spool / spool file under a directory. Returns false with error set.
bool loadSpool(const std::string& path, Model& out, std::string& error);

struct RunResult {
    int exitCode = -1;
    std::string out;
};

// Runs argv with the current environment plus env ("NAME=value" entries); captures stdout.
RunResult run(const std::vector<std::string>& argv, const std::vector<std::string>& env);

// "TRUTH kind k=v k=v" lines of a program's output, as (kind, fields).
std::vector<std::pair<std::string, std::map<std::string, std::string>>> truthLines(const std::string& out);

} // namespace tidemark::gputest
