// Live sets: what was live in a space at an instant, broken down by site, phase, API and name; the
// peak with an explanation in words; and what was allocated and freed inside a window.
#include "analysis/internal.h"
#include "analysis/queries.h"
#include "analysis/report.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>

namespace tidemark::analysis {

namespace {

constexpr const char* kLiveSql
    = "SELECT id, size_bytes, coalesce(callsite_id, 0), coalesce(range_id, 0), api, coalesce(name_id, 0), "
      "coalesce(heap_id, 0), address, alloc_ts_ns, free_ts_ns, coalesce(thread_id, 0) FROM allocations "
      "WHERE space_id = ?1 AND alloc_ts_ns <= ?2 AND (free_ts_ns IS NULL OR free_ts_ns > ?2)";

Allocation readAllocation(Recording& rec, trace::Stmt& st, int64_t spaceId)
{
    Allocation a;
    a.id = st.int64(0);
    a.spaceId = spaceId;
    a.sizeBytes = st.int64(1);
    a.callsiteId = st.int64(2);
    a.rangeId = st.int64(3);
    a.api = rec.apiName(st.int64(4));
    a.name = rec.stringAt(st.int64(5));
    a.heapId = st.int64(6);
    a.address = st.int64(7);
    a.allocNs = st.int64(8);
    if (!st.isNull(9))
        a.freeNs = st.int64(9);
    a.threadId = st.int64(10);
    a.phase = rec.phaseOf(a.rangeId);
    return a;
}

// Per phase path: bytes and region names, to phrase the peak.
struct PhaseBytes {
    int64_t bytes = 0;
    std::map<std::string, int64_t> names;
};

// "layer1", "layer 2", ... "layer8" → "layers 1–8"; empty when the children do not share a stem.
std::string collapseNumbered(const std::vector<std::string>& children)
{
    std::string stem;
    std::set<int64_t> numbers;
    for (const auto& c : children) {
        size_t j = c.size();
        while (j > 0 && std::isdigit(static_cast<unsigned char>(c[j - 1])))
            --j;
        if (j == c.size() || j == 0 || c.size() - j > 9)
            return {};
        std::string s = c.substr(0, j);
        while (!s.empty() && (s.back() == ' ' || s.back() == '_' || s.back() == '-'))
            s.pop_back();
        if (!stem.empty() && s != stem)
            return {};
        stem = s;
        numbers.insert(std::stoll(c.substr(j)));
    }
    if (numbers.size() < 2)
        return {};
    int64_t lo = *numbers.begin();
    int64_t hi = *numbers.rbegin();
    bool contiguous = static_cast<int64_t>(numbers.size()) == hi - lo + 1;
    std::string out = stem + "s " + std::to_string(lo) + (contiguous ? "–" : "…") + std::to_string(hi);
    if (!contiguous)
        out += " (" + std::to_string(numbers.size()) + " of them)";
    return out;
}

std::string percent(double share)
{
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.0f%%", share * 100.0);
    return buf;
}

// The deepest phase prefix holding at least half of the peak (else the largest top-level phase),
// phrased with its children and the dominant region name.
std::string explainPhases(const std::map<std::string, PhaseBytes>& byPath, int64_t total, const std::string& spaceName)
{
    std::map<std::string, PhaseBytes> prefixes;
    for (const auto& [path, pb] : byPath) {
        if (path.empty())
            continue;
        size_t pos = 0;
        while (true) {
            pos = path.find('/', pos);
            std::string prefix = pos == std::string::npos ? path : path.substr(0, pos);
            auto& p = prefixes[prefix];
            p.bytes += pb.bytes;
            for (const auto& [n, b] : pb.names)
                p.names[n] += b;
            if (pos == std::string::npos)
                break;
            ++pos;
        }
    }
    if (prefixes.empty() || total <= 0)
        return {};
    // Choose among the bytes made inside some phase; what was made outside is said separately.
    int64_t phased = 0;
    for (const auto& [prefix, pb] : prefixes)
        if (prefix.find('/') == std::string::npos)
            phased += pb.bytes;
    std::string best;
    for (const auto& [prefix, pb] : prefixes) {
        bool half = pb.bytes * 2 >= phased;
        auto depth = std::count(prefix.begin(), prefix.end(), '/');
        auto bestDepth = std::count(best.begin(), best.end(), '/');
        if (half && (best.empty() || prefixes[best].bytes * 2 < phased || depth > bestDepth))
            best = prefix;
    }
    if (best.empty())
        for (const auto& [prefix, pb] : prefixes)
            if (prefix.find('/') == std::string::npos && (best.empty() || pb.bytes > prefixes[best].bytes))
                best = prefix;
    const auto& chosen = prefixes[best];
    std::vector<std::string> children;
    for (const auto& [prefix, pb] : prefixes)
        if (prefix.size() > best.size() + 1 && prefix.compare(0, best.size() + 1, best + "/") == 0
            && prefix.find('/', best.size() + 1) == std::string::npos && pb.bytes * 20 >= chosen.bytes)
            children.push_back(prefix.substr(best.size() + 1));
    std::string what = "memory";
    for (const auto& [n, b] : chosen.names)
        if (!n.empty() && b * 2 >= chosen.bytes)
            what = n;
    std::string last = best.substr(best.find_last_of('/') == std::string::npos ? 0 : best.find_last_of('/') + 1);
    std::string where = last;
    if (auto collapsed = collapseNumbered(children); !collapsed.empty())
        where += " of " + collapsed;
    else if (children.size() == 1)
        where += " in " + children.front();
    double share = static_cast<double>(chosen.bytes) / static_cast<double>(total);
    return percent(share) + " of the " + spaceName + " peak is " + what + " kept by " + where + " (phase " + best + ")";
}

} // namespace

Result<std::vector<Allocation>> liveAllocationsAt(Recording& rec, int64_t spaceId, TimeNs t, int limit)
{
    auto st = rec.db().prepare(kLiveSql);
    if (!st)
        return st.error();
    st->bind(1, spaceId).bind(2, t);
    std::vector<Allocation> out;
    int64_t polled = 0;
    while (st->step()) {
        if (pollCancel(rec, polled))
            return cancelledError();
        out.push_back(readAllocation(rec, *st, spaceId));
    }
    if (!st->status())
        return st->status().error();
    std::sort(out.begin(), out.end(), [](const Allocation& a, const Allocation& b) {
        return a.sizeBytes != b.sizeBytes ? a.sizeBytes > b.sizeBytes : a.id < b.id;
    });
    if (limit > 0 && out.size() > static_cast<size_t>(limit))
        out.resize(limit);
    return out;
}

namespace {
Result<LiveSet> scanLive(Recording& rec, int64_t spaceId, TimeNs t, const Filter& filter, int top,
    std::map<std::string, PhaseBytes>* phases)
{
    auto st = rec.db().prepare(kLiveSql);
    if (!st)
        return st.error();
    st->bind(1, spaceId).bind(2, t);
    LiveSet live;
    live.spaceId = spaceId;
    live.ts = t;
    BreakdownBuilder bySite, byPhase, byApi, byName;
    int64_t polled = 0;
    while (st->step()) {
        if (pollCancel(rec, polled))
            return cancelledError();
        int64_t size = st->int64(1);
        int64_t cs = st->int64(2);
        const std::string& phase = rec.phaseOf(st->int64(3));
        if (!phaseMatches(phase, filter.phase))
            continue;
        const Site& site = rec.siteOf(cs);
        bySite.add(site.key, site.label, size, cs);
        byPhase.add(phase, phase.empty() ? "(no phase)" : phase, size, cs);
        std::string api = rec.apiName(st->int64(4));
        byApi.add(api, api, size, cs);
        std::string name = rec.stringAt(st->int64(5));
        if (!name.empty())
            byName.add(name, name, size, cs);
        if (phases) {
            auto& pb = (*phases)[phase];
            pb.bytes += size;
            pb.names[name] += size;
        }
        live.totalBytes += size;
        live.count += 1;
    }
    if (!st->status())
        return st->status().error();
    live.bySite = bySite.take(live.totalBytes, top);
    live.byPhase = byPhase.take(live.totalBytes, top);
    live.byApi = byApi.take(live.totalBytes, top);
    live.byName = byName.take(live.totalBytes, top);
    return live;
}

std::string innermostPhaseAt(Recording& rec, TimeNs t)
{
    (void)rec.phaseOf(std::numeric_limits<int64_t>::max()); // loads ranges
    int64_t best = 0;
    int64_t bestDepth = -1;
    for (const auto& [id, r] : rec.caches().ranges) {
        TimeNs end = r.endNs < 0 ? rec.endNs() : r.endNs;
        if (r.startNs <= t && t < end && r.depth > bestDepth) {
            best = id;
            bestDepth = r.depth;
        }
    }
    return rec.phaseOf(best);
}
} // namespace

Result<LiveSet> liveAt(Recording& rec, int64_t spaceId, TimeNs t, const Filter& filter, int top)
{
    return scanLive(rec, spaceId, t, filter, top, nullptr);
}

Result<Peak> peak(Recording& rec, int64_t spaceId, const Filter& filter, int top)
{
    const SpaceInfo* space = rec.space(spaceId);
    if (!space)
        return makeError(ErrorCode::NotFound, "no space with id " + std::to_string(spaceId));
    auto point = locatePeak(rec, spaceId);
    if (!point)
        return point.error();
    Peak p;
    p.spaceId = spaceId;
    p.spaceName = space->name;
    p.bytes = point->bytes;
    p.ts = point->ts;
    std::map<std::string, PhaseBytes> phases;
    auto live = scanLive(rec, spaceId, p.ts, filter, top, &phases);
    if (!live)
        return live.error();
    p.live = std::move(*live);
    p.phaseAtPeak = innermostPhaseAt(rec, p.ts);
    if (p.bytes == 0) {
        p.explanation.push_back("Nothing was allocated in " + space->name + ".");
        return p;
    }
    std::string head = "The " + space->name + " peak was " + humanBytes(static_cast<double>(p.bytes)) + " at "
        + humanDuration(p.ts - rec.startNs()) + (p.phaseAtPeak.empty() ? "" : " (in " + p.phaseAtPeak + ")") + ".";
    p.explanation.push_back(head);
    if (auto it = phases.find(""); it != phases.end() && it->second.bytes * 2 >= p.bytes && !rec.caches().ranges.empty())
        p.explanation.push_back(percent(static_cast<double>(it->second.bytes) / static_cast<double>(p.bytes)) + " of the "
            + space->name + " peak was allocated outside any NVTX phase (before the first range, or on a thread without ranges).");
    if (auto s = explainPhases(phases, p.bytes, space->name); !s.empty())
        p.explanation.push_back(s + ".");
    if (!p.live.bySite.empty()) {
        const auto& top1 = p.live.bySite.front();
        p.explanation.push_back("The largest site, " + top1.label + ", holds " + humanBytes(static_cast<double>(top1.bytes))
            + " (" + percent(static_cast<double>(top1.bytes) / static_cast<double>(p.bytes)) + ") in "
            + std::to_string(top1.count) + (top1.count == 1 ? " allocation." : " allocations."));
    }
    if (space->isPool()) {
        auto heaps = loadHeaps(rec, spaceId);
        if (heaps && !heaps->empty()) {
            int64_t reserved = reservedAt(*heaps, p.ts);
            p.reservedBytesAtPeak = reserved;
            if (reserved > 0)
                p.explanation.push_back("The pool had " + humanBytes(static_cast<double>(reserved))
                    + " reserved at that moment; " + percent(static_cast<double>(p.bytes) / static_cast<double>(reserved))
                    + " of it was in use.");
        }
    }
    return p;
}

Result<WindowActivity> activity(Recording& rec, int64_t spaceId, TimeNs t0, TimeNs t1, int top)
{
    WindowActivity w;
    w.spaceId = spaceId;
    w.t0 = t0;
    w.t1 = t1;
    auto start = liveBytesAt(rec, spaceId, t0 - 1);
    auto end = liveBytesAt(rec, spaceId, t1 - 1);
    if (!start)
        return start.error();
    if (!end)
        return end.error();
    w.liveAtStartBytes = *start;
    w.liveAtEndBytes = *end;
    for (int pass = 0; pass < 2; ++pass) {
        auto st = rec.db().prepare(pass == 0
                ? "SELECT size_bytes, coalesce(callsite_id, 0) FROM allocations WHERE space_id = ?1 AND alloc_ts_ns >= ?2 AND alloc_ts_ns < ?3"
                : "SELECT size_bytes, coalesce(callsite_id, 0) FROM allocations WHERE space_id = ?1 AND free_ts_ns >= ?2 AND free_ts_ns < ?3");
        if (!st)
            return st.error();
        st->bind(1, spaceId).bind(2, t0).bind(3, t1);
        BreakdownBuilder b;
        int64_t bytes = 0, count = 0, polled = 0;
        while (st->step()) {
            if (pollCancel(rec, polled))
                return cancelledError();
            const Site& site = rec.siteOf(st->int64(1));
            b.add(site.key, site.label, st->int64(0), st->int64(1));
            bytes += st->int64(0);
            ++count;
        }
        if (!st->status())
            return st->status().error();
        (pass == 0 ? w.allocatedBySite : w.freedBySite) = b.take(bytes, top);
        (pass == 0 ? w.allocatedBytes : w.freedBytes) = bytes;
        (pass == 0 ? w.allocatedCount : w.freedCount) = count;
    }
    return w;
}

} // namespace tidemark::analysis
