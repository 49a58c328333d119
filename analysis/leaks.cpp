// Leaks and growth: memory live at the end by site (pool-cached memory excluded, repeated leaks
// told apart from one-time allocations kept to the end), and live bytes rising step after step
// (NVTX step ranges) or over time (regression), with the sites responsible.
#include "analysis/internal.h"
#include "analysis/queries.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

namespace tidemark::analysis {

namespace {

int64_t stepIndexAt(const std::vector<StepRange>& steps, TimeNs t)
{
    auto it = std::upper_bound(steps.begin(), steps.end(), t, [](TimeNs v, const StepRange& s) { return v < s.startNs; });
    if (it == steps.begin())
        return -1;
    --it;
    return t < it->endNs ? static_cast<int64_t>(it - steps.begin()) : -1;
}

struct SiteAcc {
    LeakSite row;
    std::set<int64_t> steps;
    std::map<std::string, int64_t> phases;
};

// Live at the end is a leak verdict only when the capture ended at a process exit: not after a crash
// or a kill, and not for a snapshot taken mid-run (imports leave end_reason unknown).
bool endedWithoutExit(Recording& rec)
{
    auto cut = rec.db().queryInt("SELECT count(*) FROM processes WHERE end_reason = 'cut_short'");
    auto exited = rec.db().queryInt("SELECT count(*) FROM processes WHERE end_reason IN ('exit', 'exec')");
    return (cut && *cut > 0) || !exited || *exited == 0;
}

struct Fit {
    double slope = 0.0;
    double r2 = 0.0;
};

Fit linearFit(const std::vector<double>& x, const std::vector<double>& y)
{
    Fit f;
    size_t n = x.size();
    if (n < 2)
        return f;
    double mx = 0, my = 0;
    for (size_t i = 0; i < n; ++i) {
        mx += x[i];
        my += y[i];
    }
    mx /= static_cast<double>(n);
    my /= static_cast<double>(n);
    double sxx = 0, sxy = 0, syy = 0;
    for (size_t i = 0; i < n; ++i) {
        sxx += (x[i] - mx) * (x[i] - mx);
        sxy += (x[i] - mx) * (y[i] - my);
        syy += (y[i] - my) * (y[i] - my);
    }
    if (sxx <= 0)
        return f;
    f.slope = sxy / sxx;
    f.r2 = syy > 0 ? (sxy * sxy) / (sxx * syy) : 0.0;
    return f;
}

// Allocations made in [from, at] and still live at `at`, by site: what accumulated.
Status accumulatedSites(Recording& rec, Growth& g, TimeNs from, TimeNs at, double steps, const Filter& filter, int top)
{
    auto st = rec.db().prepare("SELECT size_bytes, coalesce(callsite_id, 0), coalesce(range_id, 0), address FROM allocations WHERE "
                               "space_id = ?1 AND alloc_ts_ns >= ?2 AND alloc_ts_ns <= ?3 AND (free_ts_ns IS NULL OR free_ts_ns > ?3)");
    // Segments backing a pool grow because of what lives inside the pool: one row pointing there.
    std::string pools;
    for (const auto& s : rec.spaces())
        if (s.isPool() && s.parentSpaceId && *s.parentSpaceId == g.spaceId)
            pools += (pools.empty() ? "" : ", ") + s.name;
    Site poolSite;
    poolSite.key = "(pool segments)";
    poolSite.label = "segments reserved by " + pools + " (see that pool for what lives in them)";
    poolSite.location.function = poolSite.label;
    if (!st)
        return st.error();
    st->bind(1, g.spaceId).bind(2, from).bind(3, at);
    std::map<std::string, GrowthSite> bySite;
    std::map<std::string, std::map<std::string, int64_t>> phases;
    int64_t polled = 0;
    while (st->step()) {
        if (pollCancel(rec, polled))
            return cancelledError();
        const std::string& phase = rec.phaseOf(st->int64(2));
        if (!phaseMatches(phase, filter.phase))
            continue;
        bool backing = !pools.empty() && isPoolBacking(rec, g.spaceId, st->int64(3), st->int64(0));
        const Site& site = backing ? poolSite : rec.siteOf(st->int64(1));
        auto& row = bySite[site.key];
        row.site = site;
        row.bytes += st->int64(0);
        row.count += 1;
        phases[site.key][phase] += st->int64(0);
    }
    if (!st->status())
        return st->status();
    for (auto& [key, row] : bySite) {
        row.bytesPerStep = steps > 0 ? static_cast<double>(row.bytes) / steps : 0.0;
        auto& ph = phases[key];
        row.phase = std::max_element(ph.begin(), ph.end(), [](auto& a, auto& b) { return a.second < b.second; })->first;
        g.sites.push_back(std::move(row));
    }
    std::sort(g.sites.begin(), g.sites.end(), [](const GrowthSite& a, const GrowthSite& b) { return a.bytes > b.bytes; });
    if (top > 0 && g.sites.size() > static_cast<size_t>(top))
        g.sites.resize(top);
    return okStatus();
}

} // namespace

Result<Leaks> leaks(Recording& rec, int64_t spaceId, const Filter& filter, int top)
{
    const SpaceInfo* space = rec.space(spaceId);
    if (!space)
        return makeError(ErrorCode::NotFound, "no space with id " + std::to_string(spaceId));
    Leaks out;
    out.spaceId = spaceId;
    out.spaceName = space->name;
    out.cutShort = endedWithoutExit(rec);
    auto steps = findSteps(rec, nullptr);
    out.steps = static_cast<int64_t>(steps.size());
    auto st = rec.db().prepare("SELECT size_bytes, coalesce(callsite_id, 0), coalesce(range_id, 0), alloc_ts_ns, address "
                               "FROM allocations WHERE space_id = ? AND free_ts_ns IS NULL");
    if (!st)
        return st.error();
    st->bind(1, spaceId);
    std::map<std::string, SiteAcc> bySite;
    int64_t polled = 0;
    while (st->step()) {
        if (pollCancel(rec, polled))
            return cancelledError();
        int64_t size = st->int64(0);
        out.liveAtEndBytes += size;
        out.liveAtEndCount += 1;
        if (isPoolBacking(rec, spaceId, st->int64(4), size)) {
            out.poolReservedBytes += size;
            continue;
        }
        const std::string& phase = rec.phaseOf(st->int64(2));
        if (!phaseMatches(phase, filter.phase))
            continue;
        TimeNs ts = st->int64(3);
        const Site& site = rec.siteOf(st->int64(1));
        auto& acc = bySite[site.key];
        if (acc.row.count == 0) {
            acc.row.site = site;
            acc.row.firstNs = ts;
            acc.row.lastNs = ts;
        }
        acc.row.bytes += size;
        acc.row.count += 1;
        acc.row.firstNs = std::min(acc.row.firstNs, ts);
        acc.row.lastNs = std::max(acc.row.lastNs, ts);
        if (int64_t s = stepIndexAt(steps, ts); s >= 0)
            acc.steps.insert(s);
        acc.phases[phase] += size;
    }
    if (!st->status())
        return st->status().error();
    TimeNs duration = std::max<TimeNs>(1, rec.endNs() - rec.startNs());
    for (auto& [key, acc] : bySite) {
        auto& row = acc.row;
        row.stepsWithLeak = static_cast<int64_t>(acc.steps.size());
        row.phase = std::max_element(acc.phases.begin(), acc.phases.end(), [](auto& a, auto& b) { return a.second < b.second; })->first;
        if (out.cutShort) {
            row.isLeak = false; // reported as live at the end of the capture, without a verdict
        } else if (steps.size() >= 2) {
            row.isLeak = acc.steps.size() >= 2;
            if (row.isLeak)
                row.bytesPerStep = static_cast<double>(row.bytes) / static_cast<double>(steps.size());
        } else {
            row.isLeak = row.count >= 3 && (row.lastNs - row.firstNs) * 4 >= duration;
        }
        (row.isLeak ? out.leakedBytes : out.retainedBytes) += row.bytes;
        if (row.isLeak)
            out.leakedCount += row.count;
        out.sites.push_back(std::move(row));
    }
    std::sort(out.sites.begin(), out.sites.end(), [](const LeakSite& a, const LeakSite& b) {
        if (a.isLeak != b.isLeak)
            return a.isLeak;
        return a.bytes != b.bytes ? a.bytes > b.bytes : a.site.key < b.site.key;
    });
    if (top > 0 && out.sites.size() > static_cast<size_t>(top))
        out.sites.resize(top);
    return out;
}

Result<Growth> growth(Recording& rec, int64_t spaceId, const Filter& filter, int top)
{
    const SpaceInfo* space = rec.space(spaceId);
    if (!space)
        return makeError(ErrorCode::NotFound, "no space with id " + std::to_string(spaceId));
    Growth g;
    g.spaceId = spaceId;
    g.spaceName = space->name;
    auto steps = findSteps(rec, &g.stepName);
    std::vector<double> x, xt, y;
    if (steps.size() >= 3) {
        g.method = "steps";
        size_t stride = std::max<size_t>(1, steps.size() / 512);
        std::vector<TimeNs> boundaries;
        for (size_t i = 0; i < steps.size(); i += stride)
            boundaries.push_back(steps[i].startNs - 1);
        auto live = liveBytesAtEach(rec, spaceId, boundaries);
        if (!live)
            return live.error();
        for (size_t i = 0, j = 0; i < steps.size(); i += stride, ++j)
            g.points.push_back(StepPoint { steps[i].index, steps[i].startNs, (*live)[j] });
        // The first step warms caches and allocators up: fit from the second boundary on.
        size_t from = g.points.size() >= 4 ? 1 : 0;
        for (size_t i = from; i < g.points.size(); ++i) {
            x.push_back(static_cast<double>(i * stride));
            xt.push_back(static_cast<double>(g.points[i].ts - rec.startNs()) / 1e9);
            y.push_back(static_cast<double>(g.points[i].liveBytes));
        }
        Fit f = linearFit(x, y);
        g.bytesPerStep = f.slope;
        g.r2 = f.r2;
        g.bytesPerSecond = linearFit(xt, y).slope;
        double total = f.slope * (x.empty() ? 0.0 : x.back() - x.front());
        double highest = *std::max_element(y.begin(), y.end());
        // Deterministic training has identical live bytes at every boundary, so a steady rise that
        // fits a line is growth; tiny or noisy changes are not.
        g.growing = f.slope > 0 && f.r2 >= 0.8 && total >= std::max(64.0, 0.001 * highest);
        if (g.growing) {
            TimeNs first = g.points[from].ts - 1;
            TimeNs last = g.points.back().ts - 1;
            if (auto s = accumulatedSites(rec, g, first, last, x.back() - x.front(), filter, top); !s)
                return s.error();
        }
        return g;
    }
    g.method = "regression";
    TimeNs t0 = rec.startNs();
    TimeNs t1 = std::max(rec.endNs(), t0 + 1) + 1;
    auto tl = timeline(rec, spaceId, t0, t1, 256);
    if (!tl)
        return tl.error();
    int64_t peakLive = 0;
    for (const auto& b : tl->buckets) {
        xt.push_back(static_cast<double>(b.endNs - t0) / 1e9);
        y.push_back(static_cast<double>(b.lastLiveBytes));
        peakLive = std::max(peakLive, b.maxLiveBytes);
    }
    Fit f = linearFit(xt, y);
    g.bytesPerSecond = f.slope;
    g.r2 = f.r2;
    double total = f.slope * (xt.empty() ? 0.0 : xt.back());
    g.growing = f.slope > 0 && total >= std::max(1024.0, 0.05 * static_cast<double>(peakLive)) && f.r2 >= 0.8;
    if (g.growing) {
        TimeNs from = t0 + (t1 - t0) / 10;
        if (auto s = accumulatedSites(rec, g, from, t1, 0.0, filter, top); !s)
            return s.error();
    }
    return g;
}

} // namespace tidemark::analysis
