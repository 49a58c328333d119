// Finalization: builds indexes and the level-of-detail `series` (per space and level, fixed-width
// buckets with the min/max/last live-bytes envelope and alloc/free counts), so any timeline window
// at any pixel width is one cheap query. The collector writes the series of the spaces it could
// follow in time order while ingesting; this builds the others from the rows: a recording of a few
// million rows without indexes is read once and its events sorted in memory, a larger one streams
// each space's events through the indexes (memory bounded by the number of levels).
#include "trace/finalize.h"

#include "trace/events.h"
#include "trace/meta_keys.h"
#include "trace/recording.h"
#include "trace/series.h"

#include <algorithm>
#include <cstdlib>
#include <limits>
#include <map>
#include <optional>
#include <vector>

namespace tidemark::trace {

namespace {

// The span of every space's events: three probes per space (index probes once indexed).
Result<SeriesParams> chooseParams(Db& db, const std::vector<int64_t>& spaces)
{
    int64_t lo = std::numeric_limits<int64_t>::max();
    int64_t hi = std::numeric_limits<int64_t>::min();
    for (int64_t space : spaces) {
        for (const char* sql : { "SELECT min(alloc_ts_ns) FROM allocations WHERE space_id = ?",
                 "SELECT max(alloc_ts_ns) FROM allocations WHERE space_id = ?",
                 "SELECT max(free_ts_ns) FROM allocations WHERE space_id = ?" }) {
            auto st = db.prepare(sql);
            if (!st)
                return st.error();
            st->bind(1, space);
            if (st->step() && !st->isNull(0)) {
                lo = std::min(lo, st->int64(0));
                hi = std::max(hi, st->int64(0));
            }
            if (!st->status())
                return st->status().error();
        }
    }
    return chooseSeriesParams(lo, hi);
}

// Spaces with allocations but no series rows yet (the collector writes the series of the spaces it
// could follow while ingesting).
Result<std::vector<int64_t>> spacesWithoutSeries(Db& db)
{
    std::vector<int64_t> spaces;
    auto st = db.prepare("SELECT id FROM spaces s WHERE NOT EXISTS (SELECT 1 FROM series WHERE space_id = s.id) "
                         "AND EXISTS (SELECT 1 FROM allocations WHERE space_id = s.id) ORDER BY id");
    if (!st)
        return st.error();
    while (st->step())
        spaces.push_back(st->int64(0));
    if (!st->status())
        return st->status().error();
    return spaces;
}

// Up to this many allocation rows, the spaces that need a series from the rows are read in one pass
// in table order and their events sorted in memory (two of 24 B per row), which costs a fraction of
// building the indexes for two index-ordered scans; larger recordings take the indexes.
constexpr int64_t kSeriesRowsInMemory = int64_t(4) << 20;

// Every event of the given spaces, per space in EventStream's order: by time, frees before
// allocations at the same time (zero-lifetime rows count as events of no bytes).
Result<std::map<int64_t, std::vector<LiveEvent>>> eventsInMemory(Db& db, const std::vector<int64_t>& spaces)
{
    std::map<int64_t, std::vector<LiveEvent>> events;
    for (int64_t space : spaces)
        events[space];
    auto st = db.prepare("SELECT space_id, alloc_ts_ns, free_ts_ns, size_bytes FROM allocations NOT INDEXED");
    if (!st)
        return st.error();
    while (st->step()) {
        auto it = events.find(st->int64(0));
        if (it == events.end())
            continue;
        const int64_t alloc = st->int64(1);
        const bool freed = !st->isNull(2);
        const int64_t free = freed ? st->int64(2) : 0;
        const int64_t size = freed && free <= alloc ? 0 : st->int64(3);
        it->second.push_back({ alloc, size, true });
        if (freed)
            it->second.push_back({ free, -size, false });
    }
    if (!st->status())
        return st->status().error();
    for (auto& [space, list] : events)
        std::sort(list.begin(), list.end(), [](const LiveEvent& a, const LiveEvent& b) {
            return a.ts != b.ts ? a.ts < b.ts : !a.isAlloc && b.isAlloc;
        });
    return events;
}

// Below this many allocation rows the indexes cost little to build whatever the recording.
constexpr int64_t kAlwaysIndexedRows = 100'000;

// The analyses read a space that is most of the table in one pass in table order (SpaceShare); the
// indexes pay when some space is a small part of it, or when there is no series to tell.
bool indexesUseful(Db& db)
{
    auto levels = getMeta(db, kMetaSeriesLevels);
    auto rows = db.queryInt("SELECT coalesce(max(id), 0) FROM allocations");
    if (!levels || !rows || *rows <= kAlwaysIndexedRows)
        return true;
    auto st = db.prepare("SELECT (SELECT coalesce(sum(allocs), 0) FROM series WHERE space_id = s.id AND level = ?) "
                         "FROM spaces s");
    if (!st)
        return true;
    st->bind(1, static_cast<int64_t>(std::atoll(levels->c_str())) - 1);
    while (st->step()) {
        int64_t spaceRows = st->int64(0);
        if (spaceRows > 0 && spaceRows * 4 < *rows)
            return true;
    }
    return !st->status().ok();
}

Status addIndexes(Db& db, const Progress& progress)
{
    if (progress)
        progress("indexes", 0.0);
    if (auto s = createIndexes(db); !s)
        return s;
    if (progress)
        progress("indexes", 1.0);
    return okStatus();
}

Status buildSeries(Db& db, const Progress& progress, const FinalizeOptions& options)
{
    auto params = readSeriesParams(db);
    std::vector<int64_t> spaces;
    if (params) {
        auto missing = spacesWithoutSeries(db);
        if (!missing)
            return missing.error();
        spaces = std::move(*missing);
    } else {
        auto st = db.prepare("SELECT id FROM spaces ORDER BY id");
        if (!st)
            return st.error();
        while (st->step())
            spaces.push_back(st->int64(0));
    }
    if (spaces.empty())
        return params ? okStatus() : writeSeriesParams(db, chooseSeriesParams(0, 0));
    // Without the indexes, a recording of a few million rows is read once and sorted in memory;
    // otherwise the series of a space is two index-ordered scans of its rows, worth the indexes.
    auto rows = db.queryInt("SELECT coalesce(max(id), 0) FROM allocations");
    if (!rows)
        return rows.error();
    std::optional<std::map<int64_t, std::vector<LiveEvent>>> inMemory;
    const bool indexed = options.indexes == FinalizeOptions::Indexes::Always;
    if (!indexed && *rows <= kSeriesRowsInMemory) {
        auto events = eventsInMemory(db, spaces);
        if (!events)
            return events.error();
        inMemory = std::move(*events);
    } else if (!indexed) {
        if (auto s = addIndexes(db, progress); !s)
            return s;
    }
    if (!params && inMemory) {
        int64_t lo = std::numeric_limits<int64_t>::max(), hi = std::numeric_limits<int64_t>::min();
        for (const auto& [space, list] : *inMemory)
            for (const LiveEvent& ev : list) { // as chooseParams: the first allocation to the last event
                if (ev.isAlloc)
                    lo = std::min(lo, ev.ts);
                hi = std::max(hi, ev.ts);
            }
        params = chooseSeriesParams(lo, hi);
    } else if (!params) {
        auto chosen = chooseParams(db, spaces);
        if (!chosen)
            return chosen.error();
        params = *chosen;
    }
    Transaction tx(db);
    for (size_t i = 0; i < spaces.size(); ++i) {
        if (progress)
            progress("series", static_cast<double>(i) / static_cast<double>(spaces.size()));
        if (auto s = db.exec("DELETE FROM series WHERE space_id = " + std::to_string(spaces[i])); !s)
            return s;
        SeriesWriter writer(*params, spaces[i]);
        if (inMemory) {
            for (const LiveEvent& ev : (*inMemory)[spaces[i]])
                if (auto s = writer.event(ev.ts, ev.delta, ev.isAlloc); !s)
                    return s;
            (*inMemory)[spaces[i]] = {};
        } else {
            auto stream
                = EventStream::open(db, spaces[i], std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max());
            if (!stream)
                return stream.error();
            LiveEvent ev;
            while (stream->next(ev))
                if (auto s = writer.event(ev.ts, ev.delta, ev.isAlloc); !s)
                    return s;
            if (auto s = stream->status(); !s)
                return s;
        }
        if (auto s = writer.finish(db); !s)
            return s;
    }
    if (auto s = writeSeriesParams(db, *params); !s)
        return s;
    if (progress)
        progress("series", 1.0);
    return tx.commit();
}

} // namespace

Status finalizeRecording(Db& db, const Progress& progress, const FinalizeOptions& options)
{
    if (options.indexes == FinalizeOptions::Indexes::Always)
        if (auto s = addIndexes(db, progress); !s)
            return s;
    if (auto s = buildSeries(db, progress, options); !s)
        return s;
    if (options.indexes == FinalizeOptions::Indexes::WhenUseful) {
        auto has = hasIndexes(db);
        if (!has)
            return has.error();
        if (!*has && indexesUseful(db))
            return addIndexes(db, progress);
    }
    return okStatus();
}

} // namespace tidemark::trace
