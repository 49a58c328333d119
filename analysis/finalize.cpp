// Finalization: builds indexes and the level-of-detail `series` (per space and level, fixed-width
// buckets with the min/max/last live-bytes envelope and alloc/free counts), so any timeline window
// at any pixel width is one cheap query. The collector writes the series of the spaces it could
// follow in time order while ingesting; this builds the others from the rows, streaming each
// space's events once: memory stays bounded by the number of levels, whatever the recording's size.
#include "analysis/finalize.h"

#include "analysis/internal.h"
#include "trace/recording.h"
#include "trace/series.h"

#include <algorithm>
#include <limits>
#include <vector>

namespace tidemark::analysis {

namespace {

// The span of every space's events: three probes per space (index probes once indexed).
Result<SeriesParams> chooseParams(trace::Db& db, const std::vector<int64_t>& spaces)
{
    TimeNs lo = std::numeric_limits<TimeNs>::max();
    TimeNs hi = std::numeric_limits<TimeNs>::min();
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
    return trace::chooseSeriesParams(lo, hi);
}

// Spaces with allocations but no series rows yet (the collector writes the series of the spaces it
// could follow while ingesting).
Result<std::vector<int64_t>> spacesWithoutSeries(trace::Db& db)
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

Status createIndexes(trace::Db& db, const Progress& progress)
{
    if (progress)
        progress("indexes", 0.0);
    if (auto s = trace::createIndexes(db); !s)
        return s;
    if (progress)
        progress("indexes", 1.0);
    return okStatus();
}

Status buildSeries(trace::Db& db, const Progress& progress, const FinalizeOptions& options)
{
    auto params = trace::readSeriesParams(db);
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
    // The series of a space is two index-ordered scans of its rows: worth the indexes.
    if (!options.indexes && !spaces.empty())
        if (auto s = createIndexes(db, progress); !s)
            return s;
    if (!params) {
        auto chosen = chooseParams(db, spaces);
        if (!chosen)
            return chosen.error();
        params = *chosen;
    }
    trace::Transaction tx(db);
    for (size_t i = 0; i < spaces.size(); ++i) {
        if (progress)
            progress("series", static_cast<double>(i) / static_cast<double>(spaces.size()));
        if (auto s = db.exec("DELETE FROM series WHERE space_id = " + std::to_string(spaces[i])); !s)
            return s;
        auto stream = EventStream::open(db, spaces[i], std::numeric_limits<TimeNs>::min(), std::numeric_limits<TimeNs>::max());
        if (!stream)
            return stream.error();
        trace::SeriesWriter writer(*params, spaces[i]);
        LiveEvent ev;
        while (stream->next(ev))
            if (auto s = writer.event(ev.ts, ev.delta, ev.isAlloc); !s)
                return s;
        if (auto s = stream->status(); !s)
            return s;
        if (auto s = writer.finish(db); !s)
            return s;
    }
    if (auto s = trace::writeSeriesParams(db, *params); !s)
        return s;
    if (progress)
        progress("series", 1.0);
    return tx.commit();
}

} // namespace

Status finalizeRecording(trace::Db& db, const Progress& progress, const FinalizeOptions& options)
{
    if (options.indexes)
        if (auto s = createIndexes(db, progress); !s)
            return s;
    return buildSeries(db, progress, options);
}

} // namespace tidemark::analysis
