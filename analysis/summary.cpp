// Overview queries: the recording summary (program, duration, counts, exit status, per-space totals
// and peaks), capture coverage, and the lanes drawn next to the memory timeline (NVTX ranges,
// kernels, copies, failed allocations).
#include "analysis/internal.h"
#include "analysis/queries.h"
#include "trace/meta_keys.h"
#include "trace/recording.h"

#include <algorithm>
#include <limits>

namespace tidemark::analysis {

namespace {

std::string metaOr(trace::Db& db, std::string_view key, const std::string& fallback = {})
{
    auto v = trace::getMeta(db, key);
    return v ? *v : fallback;
}

Status loadProcesses(trace::Db& db, Summary& s)
{
    auto st = db.prepare("SELECT id, pid, exe, command_line, rank, host, start_ts_ns, end_ts_ns, end_reason FROM processes ORDER BY id");
    if (!st)
        return st.error();
    while (st->step()) {
        ProcessInfo p;
        p.id = st->int64(0);
        p.pid = st->int64(1);
        p.exe = st->isNull(2) ? "" : st->text(2);
        p.commandLine = st->isNull(3) ? "" : st->text(3);
        if (!st->isNull(4))
            p.rank = st->int64(4);
        p.host = st->isNull(5) ? "" : st->text(5);
        if (!st->isNull(6))
            p.startNs = st->int64(6);
        if (!st->isNull(7))
            p.endNs = st->int64(7);
        p.endReason = st->isNull(8) ? "" : st->text(8);
        s.processList.push_back(std::move(p));
    }
    return st->status();
}

Result<int64_t> count(trace::Db& db, const char* table)
{
    return db.queryInt(std::string("SELECT count(*) FROM ") + table);
}

Status spaceTotals(Recording& rec, SpaceSummary& ss, int64_t& invalid)
{
    auto share = spaceShare(rec, ss.space.id);
    if (!share)
        return share.error();
    auto st = rec.db().prepare(std::string("SELECT count(*), count(free_ts_ns), coalesce(sum(size_bytes), 0), "
                                           "coalesce(sum(CASE WHEN free_ts_ns IS NULL THEN size_bytes END), 0), "
                                           "coalesce(sum(free_ts_ns < alloc_ts_ns), 0) FROM allocations")
        + (share->mostOfTable() ? " NOT INDEXED" : "") + " WHERE space_id = ?");
    if (!st)
        return st.error();
    st->bind(1, ss.space.id);
    if (st->step()) {
        ss.allocations = st->int64(0);
        ss.frees = st->int64(1);
        ss.allocatedBytes = st->int64(2);
        ss.liveAtEndBytes = st->int64(3);
        ss.liveAtEndCount = ss.allocations - ss.frees;
        invalid += st->int64(4);
    }
    if (!st->status())
        return st->status();
    auto peakPoint = locatePeak(rec, ss.space.id);
    if (!peakPoint)
        return peakPoint.error();
    ss.peakBytes = peakPoint->bytes;
    ss.peakNs = peakPoint->ts;
    if (ss.space.isPool()) {
        auto heaps = loadHeaps(rec, ss.space.id);
        if (!heaps)
            return heaps.error();
        if (!heaps->empty()) {
            auto rp = reservedPeak(*heaps);
            ss.reservedPeakBytes = rp.bytes;
            ss.reservedPeakNs = rp.ts;
        }
    }
    return okStatus();
}

} // namespace

Result<Summary> summary(Recording& rec)
{
    auto& db = rec.db();
    Summary s;
    s.path = rec.path();
    if (auto st = loadProcesses(db, s); !st)
        return st.error();
    const ProcessInfo* first = s.processList.empty() ? nullptr : &s.processList.front();
    s.program = metaOr(db, trace::kMetaProgram, first ? first->exe : "");
    s.commandLine = metaOr(db, trace::kMetaCommandLine, first ? first->commandLine : "");
    s.startNs = rec.startNs();
    s.endNs = rec.endNs();
    s.durationNs = s.endNs - s.startNs;
    for (std::string_view key : { trace::kMetaExitStatus, trace::kMetaExitCode }) {
        if (auto v = trace::getMeta(db, key)) {
            try {
                s.exitStatus = std::stoll(*v);
                break;
            } catch (...) {
            }
        }
    }
    s.endReason = first ? first->endReason : "";
    for (const auto& p : s.processList)
        if (p.endReason == "cut_short")
            s.cutShort = true;
    std::string capture = metaOr(db, trace::kMetaCaptureStatus);
    if (!capture.empty() && capture != "complete") {
        s.cutShort = true;
        s.cutShortDetail = capture;
    }
    for (std::string_view key : { trace::kMetaCutShort, trace::kMetaCutShortReason, trace::kMetaEndDetail }) {
        if (auto v = trace::getMeta(db, key); v && !v->empty() && *v != "0" && *v != "false") {
            s.cutShort = true;
            if (s.cutShortDetail.empty() && key != trace::kMetaCutShort) // that one is only a flag
                s.cutShortDetail = *v;
        }
    }
    struct Counter {
        const char* table;
        int64_t* out;
    };
    for (auto [table, out] : { Counter { "threads", &s.threads }, Counter { "failed_allocations", &s.failedAllocations },
             Counter { "ranges", &s.ranges }, Counter { "kernels", &s.kernels }, Counter { "memcpys", &s.memcpys },
             Counter { "memsets", &s.memsets } }) {
        auto n = count(db, table);
        if (!n)
            return n.error();
        *out = *n;
    }
    s.processes = static_cast<int64_t>(s.processList.size());
    s.finalized = rec.hasSeries();
    // One pass over allocations; the id lists are primary keys, so each NOT IN is a b-tree lookup.
    if (auto st = db.prepare("SELECT coalesce(sum(size_bytes < 0), 0), "
                             "coalesce(sum(callsite_id IS NOT NULL AND callsite_id NOT IN (SELECT id FROM callsites)), 0), "
                             "coalesce(sum(space_id NOT IN (SELECT id FROM spaces)), 0), "
                             "coalesce(sum(range_id IS NOT NULL AND range_id NOT IN (SELECT id FROM ranges)), 0) "
                             "FROM allocations NOT INDEXED");
        !st)
        return st.error();
    else if (st->step()) {
        s.inconsistencies.negativeSizes = st->int64(0);
        s.inconsistencies.danglingCallsites = st->int64(1);
        s.inconsistencies.danglingSpaces = st->int64(2);
        s.inconsistencies.danglingRanges = st->int64(3);
    } else if (auto done = st->status(); !done)
        return done.error();
    // The rest of the rows that point at each other or span time: one pass over callsites, and the
    // spans (few next to the allocations).
    if (auto st = db.prepare("SELECT (SELECT coalesce(sum(parent_id IS NOT NULL AND (parent_id >= id OR parent_id NOT "
                             "IN (SELECT id FROM callsites))) + sum(frame_id NOT IN (SELECT id FROM frames)), 0) "
                             "FROM callsites NOT INDEXED), "
                             "(SELECT count(*) FROM ranges WHERE end_ts_ns < start_ts_ns) "
                             "+ (SELECT count(*) FROM kernels WHERE end_ts_ns < start_ts_ns) "
                             "+ (SELECT count(*) FROM memcpys WHERE end_ts_ns < start_ts_ns) "
                             "+ (SELECT count(*) FROM memsets WHERE end_ts_ns < start_ts_ns)");
        !st)
        return st.error();
    else if (st->step()) {
        s.inconsistencies.brokenCallsites = st->int64(0);
        s.inconsistencies.backwardSpans = st->int64(1);
    } else if (auto done = st->status(); !done)
        return done.error();
    for (const auto& space : rec.spaces()) {
        SpaceSummary ss;
        ss.space = space;
        if (auto st = spaceTotals(rec, ss, s.invalidLifetimes); !st)
            return st.error();
        s.allocations += ss.allocations;
        s.frees += ss.frees;
        s.spaces.push_back(std::move(ss));
    }
    return s;
}

namespace {

// A recording made by `tidemark record` also says which sources stayed silent: CUPTI reports only
// once the CUDA driver initializes it, and the runtime hooks only once they were called, so a
// CPU-only run would otherwise look like a GPU run whose GPU side was missed.
void addSilentSources(Recording& rec, Coverage& c)
{
    auto recorder = trace::getMeta(rec.db(), trace::kMetaRecorder);
    if (!recorder || *recorder != trace::kRecorderRecord)
        return;
    auto reported = [&](std::string_view source) {
        return std::any_of(c.items.begin(), c.items.end(), [&](const CoverageItem& it) { return it.source == source; });
    };
    auto cupti = trace::getMeta(rec.db(), trace::kMetaCaptureCupti);
    if (!reported("cupti"))
        c.items.push_back({ 0, "cupti", "cupti.injection", 0,
            cupti && *cupti == "0" ? "off (--no-cupti)"
                                   : "never initialized: the program did not initialize the CUDA driver, so no kernels, "
                                     "copies or driver-level allocations were seen" });
    if (!reported("cuda"))
        c.items.push_back({ 0, "cuda", "cuda.hooks", 0, "no CUDA runtime memory call reached the LD_PRELOAD hooks" });
}

} // namespace

Result<Coverage> coverage(Recording& rec)
{
    Coverage c;
    auto st = rec.db().prepare("SELECT coalesce(process_id, 0), source, name, value, detail FROM capture_stats "
                               "ORDER BY process_id, source, name");
    if (!st)
        return st.error();
    while (st->step()) {
        CoverageItem it;
        it.processId = st->int64(0);
        it.source = st->text(1);
        it.name = st->text(2);
        if (!st->isNull(3))
            it.value = st->int64(3);
        it.detail = st->isNull(4) ? "" : st->text(4);
        c.items.push_back(std::move(it));
    }
    if (!st->status())
        return st->status().error();
    addSilentSources(rec, c);
    for (const auto& it : c.items) {
        bool bad = false;
        for (const char* word : { "dropped", "lost", "unmatched", "failed", "truncated", "overflow" })
            if (it.name.find(word) != std::string::npos && it.value && *it.value > 0)
                bad = true;
        if (bad)
            c.warnings.push_back(it.source + ": " + it.name + " = " + std::to_string(*it.value)
                + (it.detail.empty() ? "" : " (" + it.detail + ")"));
        bool off = (it.name.find("active") != std::string::npos || it.name.find("enabled") != std::string::npos)
            && it.value && *it.value == 0;
        if (off)
            c.warnings.push_back(it.source + ": " + it.name + " is off" + (it.detail.empty() ? "" : " (" + it.detail + ")"));
    }
    return c;
}

Result<std::vector<RangeSpan>> ranges(Recording& rec, TimeNs t0, TimeNs t1, TimeNs minDurationNs)
{
    (void)rec.phaseOf(std::numeric_limits<int64_t>::max()); // loads ranges
    std::vector<RangeSpan> out;
    for (const auto& [id, r] : rec.caches().ranges) {
        TimeNs end = r.endNs < 0 ? rec.endNs() : r.endNs;
        if (r.startNs >= t1 || end <= t0 || end - r.startNs < minDurationNs)
            continue;
        RangeSpan s;
        s.id = id;
        s.parentId = r.parentId;
        s.processId = r.processId;
        s.threadId = r.threadId;
        s.depth = r.depth;
        s.name = rec.stringAt(r.nameId);
        s.domain = rec.stringAt(r.domainId);
        s.path = rec.phaseOf(id);
        s.startNs = r.startNs;
        s.endNs = end;
        s.open = r.endNs < 0;
        s.color = r.color;
        out.push_back(std::move(s));
    }
    std::sort(out.begin(), out.end(), [](const RangeSpan& a, const RangeSpan& b) {
        return a.startNs != b.startNs ? a.startNs < b.startNs : a.depth < b.depth;
    });
    return out;
}

namespace {
Result<TimeNs> longest(Recording& rec, const char* table, TimeNs& cached)
{
    if (cached < 0) {
        auto v = rec.db().queryInt(std::string("SELECT coalesce(max(end_ts_ns - start_ts_ns), 0) FROM ") + table);
        if (!v)
            return v.error();
        cached = *v;
    }
    return cached;
}
} // namespace

Result<std::vector<KernelSpan>> kernels(Recording& rec, TimeNs t0, TimeNs t1, int limit)
{
    auto span = longest(rec, "kernels", rec.caches().maxKernelNs);
    if (!span)
        return span.error();
    auto st = rec.db().prepare("SELECT id, coalesce(device, 0), coalesce(stream, 0), start_ts_ns, end_ts_ns, "
                               "coalesce(name_id, 0) FROM kernels WHERE start_ts_ns >= ?1 AND start_ts_ns < ?2 AND "
                               "end_ts_ns > ?3 ORDER BY start_ts_ns LIMIT ?4");
    if (!st)
        return st.error();
    st->bind(1, t0 - *span).bind(2, t1).bind(3, t0).bind(4, limit > 0 ? int64_t { limit } : int64_t { -1 });
    std::vector<KernelSpan> out;
    while (st->step()) {
        KernelSpan k { st->int64(0), st->int64(1), st->int64(2), st->int64(3), st->int64(4), rec.stringAt(st->int64(5)) };
        out.push_back(std::move(k));
    }
    if (!st->status())
        return st->status().error();
    return out;
}

Result<std::vector<CopySpan>> copies(Recording& rec, TimeNs t0, TimeNs t1, int limit)
{
    std::vector<CopySpan> out;
    for (int pass = 0; pass < 2; ++pass) {
        const char* table = pass == 0 ? "memcpys" : "memsets";
        auto span = longest(rec, table, pass == 0 ? rec.caches().maxMemcpyNs : rec.caches().maxMemsetNs);
        if (!span)
            return span.error();
        std::string sql = std::string("SELECT id, coalesce(device, 0), coalesce(stream, 0), start_ts_ns, end_ts_ns, size_bytes, ")
            + (pass == 0 ? "coalesce(copy_kind, '')" : "'memset'") + " FROM " + table
            + " WHERE start_ts_ns >= ?1 AND start_ts_ns < ?2 AND end_ts_ns > ?3 ORDER BY start_ts_ns LIMIT ?4";
        auto st = rec.db().prepare(sql);
        if (!st)
            return st.error();
        st->bind(1, t0 - *span).bind(2, t1).bind(3, t0).bind(4, limit > 0 ? int64_t { limit } : int64_t { -1 });
        while (st->step())
            out.push_back(CopySpan { st->int64(0), st->int64(1), st->int64(2), st->int64(3), st->int64(4), st->int64(5), st->text(6) });
        if (!st->status())
            return st->status().error();
    }
    std::sort(out.begin(), out.end(), [](const CopySpan& a, const CopySpan& b) { return a.startNs < b.startNs; });
    if (limit > 0 && out.size() > static_cast<size_t>(limit))
        out.resize(limit);
    return out;
}

Result<std::vector<FailedAllocation>> failedAllocations(Recording& rec, TimeNs t0, TimeNs t1)
{
    auto st = rec.db().prepare("SELECT id, space_id, ts_ns, size_bytes, api, coalesce(error_name, ''), coalesce(callsite_id, 0) "
                               "FROM failed_allocations WHERE ts_ns >= ? AND ts_ns < ? ORDER BY ts_ns");
    if (!st)
        return st.error();
    st->bind(1, t0).bind(2, t1);
    std::vector<FailedAllocation> out;
    while (st->step())
        out.push_back(FailedAllocation { st->int64(0), st->int64(1), st->int64(2), st->int64(3), rec.apiName(st->int64(4)),
            st->text(5), st->int64(6) });
    if (!st->status())
        return st->status().error();
    return out;
}

} // namespace tidemark::analysis
