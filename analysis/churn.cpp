// Churn: temporary allocations — freed before the allocating thread's next allocation in the same
// space, or living no longer than a short window — and allocation rates per site. One pass over the
// space in allocation order; memory bounded by threads and distinct callsites.
#include "analysis/internal.h"
#include "analysis/queries.h"

#include <algorithm>
#include <functional>
#include <map>
#include <random>
#include <unordered_map>

namespace tidemark::analysis {

namespace {

constexpr size_t kLifetimeSamples = 512; // per callsite, for the median lifetime
// interposer/runtime.h kTsCredit: heap events in a row that may go without reading the clock.
constexpr TimeNs kCaptureTsCredit = 32;

struct CallsiteAcc {
    int64_t allocations = 0;
    int64_t temporaries = 0;
    int64_t temporaryBytes = 0;
    int64_t seen = 0;
    std::vector<int64_t> lifetimes; // reservoir sample
};

struct Pending {
    bool valid = false;
    bool counted = false;
    std::optional<TimeNs> freeNs;
    int64_t size = 0;
    int64_t callsite = 0;
};

void sampleLifetime(CallsiteAcc& acc, TimeNs lifetime, std::mt19937_64& rng)
{
    ++acc.seen;
    if (acc.lifetimes.size() < kLifetimeSamples) {
        acc.lifetimes.push_back(lifetime);
        return;
    }
    auto k = std::uniform_int_distribution<int64_t>(0, acc.seen - 1)(rng);
    if (k < static_cast<int64_t>(kLifetimeSamples))
        acc.lifetimes[k] = lifetime;
}

struct ChurnRow {
    int64_t id;
    TimeNs alloc;
    std::optional<TimeNs> free;
    int64_t size, thread, callsite, range;
};

constexpr const char* kChurnColumns = "id, alloc_ts_ns, free_ts_ns, size_bytes, coalesce(thread_id, 0), "
                                      "coalesce(callsite_id, 0), coalesce(range_id, 0)";

ChurnRow churnRow(trace::Stmt& st)
{
    return { st.int64(0), st.int64(1), st.isNull(2) ? std::nullopt : std::optional<TimeNs>(st.int64(2)), st.int64(3),
        st.int64(4), st.int64(5), st.int64(6) };
}

// Up to this many rows of a space are read in table order and sorted in memory (64 B each);
// more are left to SQLite (the allocation-time index, or its sorter, which can spill to disk).
constexpr int64_t kChurnRowsInMemory = int64_t(4) << 20;

// The space's allocations by (alloc_ts_ns, id), the order of the allocation-time index. A space that
// is most of the table is read in table order and sorted (SpaceShare), a third of the cost of a
// row lookup per row through the index.
Status forEachInAllocationOrder(
    Recording& rec, int64_t spaceId, const std::function<void(const ChurnRow&)>& visit, int64_t& polled)
{
    auto share = spaceShare(rec, spaceId);
    if (!share)
        return share.error();
    const int64_t spaceRows = share->rows; // -1: unknown without a series
    if (spaceRows < 0 || spaceRows > kChurnRowsInMemory) {
        auto st = rec.db().prepare(std::string("SELECT ") + kChurnColumns
            + " FROM allocations WHERE space_id = ? ORDER BY alloc_ts_ns, id");
        if (!st)
            return st.error();
        st->bind(1, spaceId);
        while (st->step()) {
            if (pollCancel(rec, polled))
                return cancelledError();
            visit(churnRow(*st));
        }
        return st->status();
    }
    auto st = rec.db().prepare(std::string("SELECT ") + kChurnColumns + " FROM allocations"
        + (share->mostOfTable() ? " NOT INDEXED" : "") + " WHERE space_id = ?");
    if (!st)
        return st.error();
    st->bind(1, spaceId);
    std::vector<ChurnRow> sorted;
    sorted.reserve(static_cast<size_t>(spaceRows));
    while (st->step()) {
        if (pollCancel(rec, polled))
            return cancelledError();
        sorted.push_back(churnRow(*st));
    }
    if (!st->status())
        return st->status();
    std::sort(sorted.begin(), sorted.end(),
        [](const ChurnRow& a, const ChurnRow& b) { return a.alloc != b.alloc ? a.alloc < b.alloc : a.id < b.id; });
    for (const ChurnRow& r : sorted)
        visit(r);
    return okStatus();
}

} // namespace

Result<Churn> churn(Recording& rec, int64_t spaceId, const Filter& filter, int top, TimeNs windowNs)
{
    const SpaceInfo* space = rec.space(spaceId);
    if (!space)
        return makeError(ErrorCode::NotFound, "no space with id " + std::to_string(spaceId));
    Churn out;
    out.spaceId = spaceId;
    out.spaceName = space->name;
    out.windowNs = windowNs;
    if (space->kind == "host") {
        auto shortcut = rec.db().queryInt("SELECT count(*) FROM capture_stats WHERE source = 'preload' AND name = "
                                          "'heap_clock_reads'");
        if (!shortcut)
            return shortcut.error();
        out.untimedUpToNs = *shortcut > 0 ? kCaptureTsCredit : 0;
    }
    std::unordered_map<int64_t, Pending> pending; // per thread: its previous allocation
    std::unordered_map<int64_t, CallsiteAcc> sites;
    std::mt19937_64 rng(42);
    auto markTemporary = [&](Pending& p) {
        if (p.counted)
            return;
        p.counted = true;
        auto& acc = sites[p.callsite];
        acc.temporaries += 1;
        acc.temporaryBytes += p.size;
        out.temporaries += 1;
        out.temporaryBytes += p.size;
    };
    int64_t polled = 0;
    auto visit = [&](const ChurnRow& r) {
        if (!filter.phase.empty() && !phaseMatches(rec.phaseOf(r.range), filter.phase))
            return;
        auto& p = pending[r.thread];
        if (p.valid && p.freeNs && *p.freeNs <= r.alloc)
            markTemporary(p);
        p = Pending { true, false, r.free, r.size, r.callsite };
        auto& acc = sites[r.callsite];
        acc.allocations += 1;
        out.allocations += 1;
        if (r.free) {
            TimeNs life = std::max<TimeNs>(0, *r.free - r.alloc);
            sampleLifetime(acc, life, rng);
            if (life <= windowNs)
                markTemporary(p);
        }
    };
    if (auto s = forEachInAllocationOrder(rec, spaceId, visit, polled); !s)
        return s.error();
    for (auto& [tid, p] : pending)
        if (p.valid && p.freeNs) // freed with no later allocation on its thread
            markTemporary(p);
    double seconds = std::max(1e-9, static_cast<double>(rec.endNs() - rec.startNs()) / 1e9);
    out.allocationsPerSecond = static_cast<double>(out.allocations) / seconds;
    // Merge callsites into sites (several stacks can reach the same code location).
    std::map<std::string, ChurnSite> bySite;
    std::map<std::string, std::vector<int64_t>> lifetimes;
    for (auto& [cs, acc] : sites) {
        const Site& site = rec.siteOf(cs);
        auto& row = bySite[site.key];
        row.site = site;
        row.allocations += acc.allocations;
        row.temporaries += acc.temporaries;
        row.temporaryBytes += acc.temporaryBytes;
        auto& l = lifetimes[site.key];
        l.insert(l.end(), acc.lifetimes.begin(), acc.lifetimes.end());
    }
    for (auto& [key, row] : bySite) {
        row.allocationsPerSecond = static_cast<double>(row.allocations) / seconds;
        row.medianLifetimeNs = percentileOf(lifetimes[key], 0.5);
        row.medianLifetimeTimed = row.medianLifetimeNs > out.untimedUpToNs;
        out.sites.push_back(std::move(row));
    }
    std::sort(out.sites.begin(), out.sites.end(), [](const ChurnSite& a, const ChurnSite& b) {
        if (a.temporaries != b.temporaries)
            return a.temporaries > b.temporaries;
        if (a.allocations != b.allocations)
            return a.allocations > b.allocations;
        return a.site.key < b.site.key;
    });
    if (top > 0 && out.sites.size() > static_cast<size_t>(top))
        out.sites.resize(top);
    return out;
}

} // namespace tidemark::analysis
