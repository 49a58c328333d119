// The end of a spool file: what is still live or open stays so (NULL end), and the process, its
// threads, its capture counters and the collector's own counters are written.
#include "collector/file_ingest.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <tuple>

namespace tidemark::collector {

namespace {
    std::optional<int64_t> tsOrNull(uint64_t ts)
    {
        return ts == 0 || ts == UINT64_MAX ? std::nullopt : std::optional<int64_t>(static_cast<int64_t>(ts));
    }

    const char* statSourceName(uint16_t source)
    {
        switch (static_cast<wire::StatSource>(source)) {
        case wire::StatSource::Preload:
            return "preload";
        case wire::StatSource::Cupti:
            return "cupti";
        case wire::StatSource::Nvtx:
            return "nvtx";
        case wire::StatSource::Cuda:
            return "cuda";
        case wire::StatSource::Collector:
            return "collector";
        }
        return "unknown";
    }

    const char* exitReasonName(uint32_t reason)
    {
        switch (static_cast<wire::ExitReason>(reason)) {
        case wire::ExitReason::Exit:
            return "exit";
        case wire::ExitReason::Exec:
            return "exec";
        case wire::ExitReason::ForkChildStop:
            return "not_followed";
        case wire::ExitReason::TrackingOff:
            return "tracking_off";
        }
        return "exit";
    }
} // namespace

void FileIngest::finishMemory()
{
    // Allocations never freed keep free_ts_ns NULL: they were live when the process ended. Written
    // in allocation order, so their ids do not depend on the hash table's order.
    std::vector<const Live*> stillLive;
    stillLive.reserve(m_hostLive.size() + m_otherLive.size());
    m_hostLive.forEach([&](uint64_t, const Live& live) { stillLive.push_back(&live); });
    for (const auto& [key, live] : m_otherLive)
        stillLive.push_back(&live);
    std::sort(stillLive.begin(), stillLive.end(), [](const Live* a, const Live* b) {
        return std::tie(a->ts, a->space, a->address) < std::tie(b->ts, b->space, b->address);
    });
    for (const Live* live : stillLive)
        writeAllocation(*live, std::nullopt, std::nullopt);
    m_count.still_live = m_hostLive.size() + m_otherLive.size();
    m_hostLive.clear();
    m_otherLive.clear();
    for (const auto& [id, heap] : m_heaps)
        writeHeap(heap, std::nullopt);
    m_heaps.clear();
}

bool FileIngest::cutShort() const
{
    return !m_exited || m_file.scan().truncated_bytes > 0 || m_file.header().stopped_ts_ns != 0;
}

std::string FileIngest::cutShortDetail() const
{
    std::string who = "process " + std::to_string(m_file.header().pid);
    if (!m_exe.empty())
        who += " (" + m_exe + ")";
    if (const auto& h = m_file.header(); h.stopped_ts_ns != 0) {
        double ms = h.stopped_ts_ns > h.start_ts_ns ? double(h.stopped_ts_ns - h.start_ts_ns) / 1e6 : 0.0;
        char at[32];
        std::snprintf(at, sizeof at, "%.1f", ms);
        return who + ": capture stopped " + at + " ms after it started, when writing its spool failed ("
            + std::strerror(static_cast<int>(h.stopped_errno)) + "); what the program did after that is not recorded";
    }
    if (m_file.scan().truncated_bytes > 0)
        return who + ": its spool ended mid-chunk (" + std::to_string(m_file.scan().truncated_bytes) + " bytes lost)";
    if (!m_exited)
        return who + ": its spool ended without an exit record";
    return {};
}

void FileIngest::finishProcess()
{
    RowWriter& out = m_ctx.out;
    for (const auto& [id, range] : m_openRanges)
        writeRange(range, std::nullopt);
    m_count.open_ranges = m_openRanges.size();
    m_count.orphan_range_ends = m_earlyRangeEnds.size();
    m_openRanges.clear();

    for (const auto& [tid, t] : m_threads)
        out.tableRow(out.threads,
            trace::ThreadRow { .id = t.id,
                .process_id = m_plan.id,
                .tid = tid,
                .name = textOrNull(t.name),
                .start_ts_ns = tsOrNull(t.first_ts),
                .end_ts_ns = tsOrNull(t.last_ts) });

    for (const auto& [key, value] : m_stats) {
        out.tableRow(out.stats,
            trace::CaptureStatRow { .process_id = m_plan.id,
                .source = statSourceName(key.first),
                .name = key.second,
                .value = value.first,
                .detail = textOrNull(value.second) });
    }
    const SpoolFileScan& scan = m_file.scan();
    const std::pair<const char*, uint64_t> counters[] = {
        { "records", scan.records },
        { "bad_records", scan.bad_records },
        { "truncated_bytes", scan.truncated_bytes },
        { "out_of_order_records", scan.out_of_order },
        { "allocations", m_count.allocations },
        { "frees", m_count.frees },
        { "unmatched_frees", m_count.unmatched_frees },
        { "still_live", m_count.still_live },
        { "merged_allocations", m_count.merged_allocations },
        { "duplicate_frees", m_count.duplicate_frees },
        { "merged_failures", m_count.merged_failures },
        { "replaced_live", m_count.replaced_live },
        { "failed_allocations", m_count.failed },
        { "regions_closed_by_heap", m_count.regions_closed_by_heap },
        { "unknown_heaps", m_count.unknown_heaps },
        { "unknown_regions", m_count.unknown_regions },
        { "unknown_stacks", m_count.unknown_stacks },
        { "open_ranges", m_count.open_ranges },
        { "orphan_range_ends", m_count.orphan_range_ends },
    };
    for (const auto& [name, value] : counters)
        out.tableRow(out.stats,
            trace::CaptureStatRow {
                .process_id = m_plan.id, .source = "collector", .name = name, .value = static_cast<int64_t>(value) });

    const auto& h = m_file.header();
    const char* reason = m_exited ? exitReasonName(m_exitReason) : "cut_short";
    if (m_exited && scan.truncated_bytes > 0)
        reason = "cut_short";
    uint64_t end = m_exited ? std::max(m_exitTs, m_lastTs) : m_lastTs;
    out.tableRow(out.processes,
        trace::ProcessRow { .id = m_plan.id,
            .pid = static_cast<int64_t>(h.pid),
            .ppid = static_cast<int64_t>(h.ppid),
            .parent_id = idOrNull(m_plan.parent_id),
            .exe = textOrNull(m_exe),
            .command_line = textOrNull(m_cmdline),
            .rank = m_ctx.options.rank,
            .host = textOrNull(m_ctx.options.host),
            .start_ts_ns = tsOrNull(h.start_ts_ns),
            .end_ts_ns = tsOrNull(end),
            .end_reason = reason });
}

} // namespace tidemark::collector
