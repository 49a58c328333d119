// The report as stable JSON (docs/report-json.md): field names are snake_case with units in the
// name, times are nanoseconds relative to the recording's start unless named *_abs_ns, and new
// fields may be added but none are renamed or removed without bumping kReportJsonVersion.
#include "analysis/report.h"
#include "analysis/json_io.h"

#include <nlohmann/json.hpp>

namespace tidemark::analysis {

namespace {

using nlohmann::json;

json optional(const std::optional<int64_t>& v) { return v ? json(*v) : json(nullptr); }

json rows(const std::vector<BreakdownRow>& rs)
{
    json a = json::array();
    for (const auto& r : rs)
        a.push_back({ { "key", r.key }, { "label", r.label }, { "bytes", r.bytes }, { "count", r.count }, { "share", r.share } });
    return a;
}

json site(const Site& s)
{
    return { { "label", s.label }, { "function", s.location.function }, { "file", s.location.file }, { "line", s.location.line },
        { "module", s.location.module } };
}

json bins(const std::vector<SizeBin>& bs)
{
    json a = json::array();
    for (const auto& b : bs)
        a.push_back({ { "up_to_bytes", b.upToBytes }, { "count", b.count }, { "bytes", b.bytes } });
    return a;
}

json fragPoint(const FragmentationPoint& p, TimeNs start)
{
    return { { "ts_ns", p.ts - start }, { "reserved_bytes", p.reservedBytes }, { "used_bytes", p.usedBytes },
        { "free_bytes", p.freeBytes }, { "largest_free_bytes", p.largestFreeBytes }, { "stranded_bytes", p.strandedBytes },
        { "fragmentation", p.fragmentation } };
}

json spaceJson(const SpaceReport& s, TimeNs start)
{
    const auto& ss = s.summary;
    json j;
    j["name"] = ss.space.name;
    j["kind"] = ss.space.kind;
    j["device"] = optional(ss.space.device);
    j["capacity_bytes"] = optional(ss.space.capacityBytes);
    j["allocations"] = ss.allocations;
    j["frees"] = ss.frees;
    j["allocated_bytes"] = ss.allocatedBytes;
    j["live_at_end_bytes"] = ss.liveAtEndBytes;
    j["live_at_end_count"] = ss.liveAtEndCount;
    j["peak"] = { { "bytes", s.peak.bytes }, { "ts_ns", s.peak.ts - start }, { "phase", s.peak.phaseAtPeak },
        { "reserved_bytes", optional(s.peak.reservedBytesAtPeak) }, { "explanation", s.peak.explanation },
        { "live_bytes", s.peak.live.totalBytes }, { "live_count", s.peak.live.count }, { "by_site", rows(s.peak.live.bySite) },
        { "by_phase", rows(s.peak.live.byPhase) }, { "by_api", rows(s.peak.live.byApi) }, { "by_name", rows(s.peak.live.byName) } };
    j["reserved_peak_bytes"] = optional(ss.reservedPeakBytes);
    json leakSites = json::array();
    for (const auto& l : s.leaks.sites)
        leakSites.push_back({ { "site", site(l.site) }, { "phase", l.phase }, { "bytes", l.bytes }, { "count", l.count },
            { "is_leak", l.isLeak }, { "steps_with_leak", l.stepsWithLeak }, { "bytes_per_step", l.bytesPerStep },
            { "first_ts_ns", l.firstNs - start }, { "last_ts_ns", l.lastNs - start } });
    json startupSites = json::array();
    for (const auto& l : s.startup.sites)
        startupSites.push_back({ { "site", site(l.site) }, { "phase", l.phase }, { "bytes", l.bytes }, { "count", l.count },
            { "first_ts_ns", l.firstNs - start }, { "last_ts_ns", l.lastNs - start } });
    j["leaks"] = { { "live_at_end_bytes", s.leaks.liveAtEndBytes }, { "startup_retained_bytes", s.startup.bytes },
        { "startup_retained_count", s.startup.count }, { "startup_sites", startupSites }, { "live_at_end_count", s.leaks.liveAtEndCount },
        { "pool_reserved_bytes", s.leaks.poolReservedBytes }, { "leaked_bytes", s.leaks.leakedBytes },
        { "leaked_count", s.leaks.leakedCount }, { "retained_bytes", s.leaks.retainedBytes }, { "steps", s.leaks.steps },
        { "cut_short", s.leaks.cutShort }, { "sites", leakSites } };
    json points = json::array();
    for (const auto& p : s.growth.points)
        points.push_back({ { "step", p.index }, { "ts_ns", p.ts - start }, { "live_bytes", p.liveBytes } });
    json growthSites = json::array();
    for (const auto& g : s.growth.sites)
        growthSites.push_back({ { "site", site(g.site) }, { "phase", g.phase }, { "bytes", g.bytes }, { "count", g.count },
            { "bytes_per_step", g.bytesPerStep } });
    j["growth"] = { { "method", s.growth.method }, { "step_name", s.growth.stepName }, { "growing", s.growth.growing },
        { "bytes_per_step", s.growth.bytesPerStep }, { "bytes_per_second", s.growth.bytesPerSecond }, { "r2", s.growth.r2 },
        { "points", points }, { "sites", growthSites } };
    json churnSites = json::array();
    for (const auto& c : s.churn.sites)
        churnSites.push_back({ { "site", site(c.site) }, { "allocations", c.allocations }, { "temporaries", c.temporaries },
            { "temporary_bytes", c.temporaryBytes }, { "allocations_per_second", c.allocationsPerSecond },
            { "median_lifetime_ns", c.medianLifetimeTimed ? json(c.medianLifetimeNs) : json(nullptr) } });
    j["churn"] = { { "window_ns", s.churn.windowNs }, { "untimed_up_to_ns", s.churn.untimedUpToNs },
        { "allocations", s.churn.allocations },
        { "temporaries", s.churn.temporaries }, { "temporary_bytes", s.churn.temporaryBytes },
        { "allocations_per_second", s.churn.allocationsPerSecond }, { "sites", churnSites } };
    if (s.fragmentation) {
        const auto& f = *s.fragmentation;
        json pts = json::array();
        for (const auto& p : f.points)
            pts.push_back(fragPoint(p, start));
        j["fragmentation"] = { { "heaps", f.heaps }, { "median_request_bytes", f.medianRequestBytes },
            { "mean_fragmentation", f.meanFragmentation }, { "worst", fragPoint(f.worst, start) }, { "points", pts },
            { "pinning_sites", rows(f.pinningSites) }, { "free_extent_sizes", bins(f.freeExtentSizes) },
            { "request_sizes", bins(f.requestSizes) }, { "explanation", f.explanation } };
    } else {
        j["fragmentation"] = nullptr;
    }
    return j;
}

} // namespace

json reportJson(const Report& r)
{
    const auto& s = r.summary;
    TimeNs start = s.startNs;
    json j;
    j["tidemark_report_version"] = kReportJsonVersion;
    j["file"] = s.path;
    j["options"] = { { "space", r.options.space }, { "phase", r.options.phase }, { "top", r.options.top },
        { "max_headlines", r.options.maxHeadlines }, { "skip_frames", skipFramePatterns() } };
    json procs = json::array();
    for (const auto& p : s.processList)
        procs.push_back({ { "pid", p.pid }, { "exe", p.exe }, { "rank", optional(p.rank) }, { "host", p.host },
            { "end_reason", p.endReason } });
    j["recording"] = { { "program", s.program }, { "command_line", s.commandLine }, { "start_abs_ns", s.startNs },
        { "duration_ns", s.durationNs }, { "exit_status", optional(s.exitStatus) }, { "end_reason", s.endReason },
        { "cut_short", s.cutShort }, { "cut_short_detail", s.cutShortDetail }, { "processes", s.processes },
        { "threads", s.threads }, { "allocations", s.allocations }, { "frees", s.frees },
        { "failed_allocations", s.failedAllocations }, { "ranges", s.ranges }, { "kernels", s.kernels },
        { "memcpys", s.memcpys }, { "memsets", s.memsets }, { "invalid_lifetimes", s.invalidLifetimes },
        { "inconsistencies", { { "negative_sizes", s.inconsistencies.negativeSizes },
                                 { "frees_before_allocations", s.invalidLifetimes },
                                 { "dangling_callsites", s.inconsistencies.danglingCallsites },
                                 { "dangling_spaces", s.inconsistencies.danglingSpaces },
                                 { "dangling_ranges", s.inconsistencies.danglingRanges },
                                 { "broken_callsites", s.inconsistencies.brokenCallsites },
                                 { "backward_spans", s.inconsistencies.backwardSpans } } },
        { "finalized", s.finalized }, { "process_list", procs } };
    j["headlines"] = r.headlines;
    j["more_findings"] = r.moreFindings;
    json stacks = json::array();
    for (const auto& hs : r.headlineStacks) {
        json frames = json::array();
        for (const auto& f : hs.frames)
            frames.push_back({ { "function", f.location.function }, { "module", f.location.module }, { "file", f.location.file },
                { "line", f.location.line }, { "inlined", f.location.inlined }, { "role", frameRoleName(f.role) },
                { "skipped", f.skipped }, { "is_site", f.isSite } });
        stacks.push_back({ { "headline", hs.headline }, { "space", hs.space }, { "site", site(hs.site) }, { "frames", frames } });
    }
    j["headline_stacks"] = stacks;
    json spaces = json::array();
    for (const auto& sp : r.spaces)
        spaces.push_back(spaceJson(sp, start));
    j["spaces"] = spaces;
    json ooms = json::array();
    for (const auto& o : r.ooms)
        ooms.push_back({ { "space", o.spaceName }, { "ts_ns", o.ts - start }, { "request_bytes", o.requestBytes }, { "api", o.api },
            { "error", o.errorName }, { "site", site(o.site) }, { "phase", o.phase }, { "verdict", o.verdict },
            { "explanation", o.explanation }, { "capacity_bytes", optional(o.capacityBytes) },
            { "device_free_bytes", optional(o.deviceFreeBytes) }, { "live_bytes", o.liveBytes },
            { "held_outside_bytes", optional(o.heldOutsideBytes) }, { "pool_free_bytes", optional(o.poolFreeBytes) },
            { "pool_largest_free_bytes", optional(o.poolLargestFreeBytes) }, { "live_by_site", rows(o.liveBySite) } });
    j["failed_allocations"] = ooms;
    json items = json::array();
    for (const auto& it : r.coverage.items)
        items.push_back({ { "process", it.processId }, { "source", it.source }, { "name", it.name }, { "value", optional(it.value) },
            { "detail", it.detail } });
    json losses = json::array();
    for (const auto& it : r.losses)
        losses.push_back({ { "process", it.processId }, { "source", it.source }, { "name", it.name }, { "value", optional(it.value) },
            { "detail", it.detail } });
    j["coverage"] = { { "items", items }, { "warnings", r.coverage.warnings }, { "losses", losses } };
    return j;
}

std::string renderJson(const Report& r, int indent)
{
    return dumpJson(reportJson(r), indent) + "\n";
}

} // namespace tidemark::analysis
