// Ranges that other tools store flat (Kineto user annotations, snapshot annotations, NVTX rows): nests
// them per thread by time, writes them with parent and depth, and answers "innermost range open at t"
// so allocations get the training phase they were made in.
#pragma once

#include "analysis/import/recording_writer.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace tidemark::import {

struct PendingRange {
    int64_t startTsNs = 0;
    std::optional<int64_t> endTsNs; // NULL: still open at the end
    std::string name;
    std::string kind = "import";
    std::optional<int64_t> domainId, category, color;
};

class RangeTable {
public:
    // Writes the ranges of one (process, thread) and keeps them for innermostAt.
    void insertAll(RecordingWriter& out, int64_t processId, std::optional<int64_t> threadId,
        std::vector<PendingRange> ranges);
    // The id of the innermost range with start <= ts < end, if any.
    std::optional<int64_t> innermostAt(int64_t ts) const;
    size_t size() const { return m_rows.size(); }

private:
    struct Row {
        int64_t start;
        std::optional<int64_t> end;
        int64_t id;
        int parent; // index into m_rows, -1 for none
    };
    std::vector<Row> m_rows; // sorted by start
};

} // namespace tidemark::import
