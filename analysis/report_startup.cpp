// "Retained by start-up": memory live at the end that was allocated while the program started (static
// initializers, the loader, the interpreter's initialization, module imports, or anything before the
// first NVTX range of its process). It is held to exit by design, so the report lists it apart from
// leaks; and the capture counters that mean data was lost, which decide whether coverage is shown.
#include "analysis/internal.h"
#include "analysis/report.h"
#include "analysis/site_names.h"

#include <algorithm>
#include <map>
#include <unordered_map>

namespace tidemark::analysis {

namespace {

    // The first NVTX range of each process: before it, a process that marks its phases is starting up.
    Result<std::unordered_map<int64_t, TimeNs>> firstRangeByProcess(Recording& rec)
    {
        std::unordered_map<int64_t, TimeNs> out;
        auto st = rec.db().prepare("SELECT process_id, min(start_ts_ns) FROM ranges GROUP BY process_id");
        if (!st)
            return st.error();
        while (st->step())
            out[st->int64(0)] = st->int64(1);
        if (!st->status())
            return st->status().error();
        return out;
    }

    struct StartupAcc {
        LeakSite row;
        std::map<std::string, int64_t> phases;
        TimeNs restFirstNs = INT64_MAX; // the rest of the site (not start-up)
        TimeNs restLastNs = INT64_MIN;
    };

    void sortAndCut(std::vector<LeakSite>& sites, int top)
    {
        std::sort(sites.begin(), sites.end(), [](const LeakSite& a, const LeakSite& b) {
            if (a.isLeak != b.isLeak)
                return a.isLeak;
            return a.bytes != b.bytes ? a.bytes > b.bytes : a.site.key < b.site.key;
        });
        if (top > 0 && sites.size() > static_cast<size_t>(top))
            sites.resize(static_cast<size_t>(top));
    }

} // namespace

Status separateStartupRetention(Recording& rec, const Filter& filter, Leaks& leaks, StartupRetention& out, int top)
{
    auto firstRange = firstRangeByProcess(rec);
    if (!firstRange)
        return firstRange.error();
    // The same rows leaks() counts: live at the end, not backing a pool heap, in the phase filter.
    auto st
        = rec.db().prepare("SELECT size_bytes, coalesce(callsite_id, 0), coalesce(range_id, 0), alloc_ts_ns, address, "
                           "process_id FROM allocations WHERE space_id = ? AND free_ts_ns IS NULL");
    if (!st)
        return st.error();
    st->bind(1, leaks.spaceId);
    std::unordered_map<int64_t, uint8_t> memo;
    std::map<std::string, StartupAcc> bySite;
    int64_t polled = 0;
    while (st->step()) {
        if (pollCancel(rec, polled))
            return cancelledError();
        int64_t size = st->int64(0);
        if (isPoolBacking(rec, leaks.spaceId, st->int64(4), size))
            continue;
        const std::string& phase = rec.phaseOf(st->int64(2));
        if (!phaseMatches(phase, filter.phase))
            continue;
        int64_t callsite = st->int64(1);
        TimeNs ts = st->int64(3);
        auto fr = firstRange->find(st->int64(5));
        bool beforeRanges = fr != firstRange->end() && ts < fr->second;
        bool startup = beforeRanges || (callsite != 0 && isStartupStack(rec, callsite, memo));
        const Site& site = rec.siteOf(callsite);
        auto& acc = bySite[site.key];
        if (!startup) {
            acc.restFirstNs = std::min(acc.restFirstNs, ts);
            acc.restLastNs = std::max(acc.restLastNs, ts);
            continue;
        }
        if (acc.row.count == 0) {
            acc.row.site = site;
            acc.row.firstNs = ts;
            acc.row.lastNs = ts;
        }
        acc.row.bytes += size;
        acc.row.count += 1;
        acc.row.firstNs = std::min(acc.row.firstNs, ts);
        acc.row.lastNs = std::max(acc.row.lastNs, ts);
        acc.phases[phase] += size;
    }
    if (!st->status())
        return st->status().error();

    std::vector<LeakSite> kept;
    for (auto& l : leaks.sites) {
        auto it = bySite.find(l.site.key);
        if (it == bySite.end() || it->second.row.count == 0) {
            kept.push_back(std::move(l));
            continue;
        }
        const LeakSite& s = it->second.row;
        (l.isLeak ? leaks.leakedBytes : leaks.retainedBytes) -= s.bytes;
        if (l.isLeak)
            leaks.leakedCount -= s.count;
        l.bytes -= s.bytes;
        l.count -= s.count;
        if (l.count <= 0)
            continue;
        // What is left was allocated after start-up; its verdict stays leaks()'s (steps: start-up
        // allocations are in no step, so it is the same; without steps see docs/analysis.md).
        l.firstNs = it->second.restFirstNs;
        l.lastNs = it->second.restLastNs;
        if (l.isLeak && leaks.steps > 0)
            l.bytesPerStep = static_cast<double>(l.bytes) / static_cast<double>(leaks.steps);
        kept.push_back(std::move(l));
    }
    leaks.sites = std::move(kept);
    sortAndCut(leaks.sites, top);

    for (auto& [key, acc] : bySite) {
        if (acc.row.count == 0)
            continue;
        auto& row = acc.row;
        row.isLeak = false;
        row.phase = std::max_element(acc.phases.begin(), acc.phases.end(), [](auto& a, auto& b) {
            return a.second < b.second;
        })->first;
        out.bytes += row.bytes;
        out.count += row.count;
        out.sites.push_back(std::move(row));
    }
    sortAndCut(out.sites, top);
    return okStatus();
}

std::vector<CoverageItem> captureLosses(const Coverage& coverage)
{
    std::vector<CoverageItem> out;
    for (const auto& it : coverage.items) {
        if (!it.value || *it.value <= 0)
            continue;
        bool lost = false;
        for (const char* word : { "dropped", "lost", "truncated", "bad_records", "bad_files", "write_errors",
                 "overflow", "unknown_stacks" })
            if (it.name.find(word) != std::string::npos)
                lost = true;
        if (lost)
            out.push_back(it);
    }
    return out;
}

} // namespace tidemark::analysis
