// Finalization: builds indexes and the level-of-detail `series` (per space and level, fixed-width
// buckets with the min/max/last live-bytes envelope and alloc/free counts), so any timeline window
// at any pixel width is one cheap query. Streams each space's events once: memory stays bounded by
// the number of levels, whatever the recording's size.
#include "analysis/finalize.h"

#include "analysis/internal.h"
#include "trace/recording.h"

#include <algorithm>
#include <limits>
#include <vector>

namespace tidemark::analysis {

namespace {

constexpr int64_t kLevel0Buckets = 1 << 16; // finest level: at most this many buckets per space

struct Bucket {
    int64_t index = -1;
    int64_t minLive = 0;
    int64_t maxLive = 0;
    int64_t lastLive = 0;
    int64_t allocs = 0;
    int64_t frees = 0;
};

class SeriesWriter {
public:
    SeriesWriter(trace::Stmt& insert, const SeriesParams& p, int64_t spaceId)
        : m_insert(insert)
        , m_params(p)
        , m_space(spaceId)
        , m_open(p.levels)
    {
    }

    Status event(const LiveEvent& ev)
    {
        int64_t b = std::max<int64_t>(0, m_params.bucketOf(ev.ts, 0)); // invalid rows may free before origin
        Bucket& cur = m_open[0];
        if (cur.index != b) {
            if (auto s = close(0); !s)
                return s;
            cur = Bucket { b, m_live, m_live, m_live, 0, 0 };
        }
        m_live += ev.delta;
        cur.minLive = std::min(cur.minLive, m_live);
        cur.maxLive = std::max(cur.maxLive, m_live);
        cur.lastLive = m_live;
        (ev.isAlloc ? cur.allocs : cur.frees) += 1;
        return okStatus();
    }

    Status finish()
    {
        for (int level = 0; level < m_params.levels; ++level)
            if (auto s = close(level); !s)
                return s;
        return okStatus();
    }

private:
    // Writes the open bucket of a level and merges it into its parent on the next level.
    Status close(int level)
    {
        Bucket& b = m_open[level];
        if (b.index < 0)
            return okStatus();
        TimeNs start = m_params.bucketStart(b.index, level);
        m_insert.bind(1, m_space).bind(2, level).bind(3, b.index).bind(4, start).bind(5, start + m_params.width(level));
        m_insert.bind(6, b.minLive).bind(7, b.maxLive).bind(8, b.lastLive).bind(9, b.allocs).bind(10, b.frees);
        if (auto s = m_insert.run(); !s)
            return s;
        if (level + 1 < m_params.levels) {
            Bucket& parent = m_open[level + 1];
            if (parent.index != b.index / 2) {
                if (auto s = close(level + 1); !s)
                    return s;
                parent = b;
                parent.index = b.index / 2;
            } else {
                parent.minLive = std::min(parent.minLive, b.minLive);
                parent.maxLive = std::max(parent.maxLive, b.maxLive);
                parent.lastLive = b.lastLive;
                parent.allocs += b.allocs;
                parent.frees += b.frees;
            }
        }
        b = Bucket {};
        return okStatus();
    }

    trace::Stmt& m_insert;
    const SeriesParams& m_params;
    int64_t m_space;
    std::vector<Bucket> m_open;
    int64_t m_live = 0;
};

// The span through the (space_id, ts) indexes: three index probes per space, no table scan.
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
    if (lo > hi)
        lo = hi = 0;
    SeriesParams p;
    p.originNs = lo;
    TimeNs span = std::max<TimeNs>(1, hi - lo + 1);
    p.baseNs = std::max<TimeNs>(1, (span + kLevel0Buckets - 1) / kLevel0Buckets);
    p.levels = 1;
    while ((p.baseNs << (p.levels - 1)) < span && p.levels < 62)
        ++p.levels;
    return p;
}

Status buildSeries(trace::Db& db, const Progress& progress)
{
    std::vector<int64_t> spaces;
    {
        auto st = db.prepare("SELECT id FROM spaces ORDER BY id");
        if (!st)
            return st.error();
        while (st->step())
            spaces.push_back(st->int64(0));
    }
    auto params = chooseParams(db, spaces);
    if (!params)
        return params.error();
    trace::Transaction tx(db);
    if (auto s = db.exec("DELETE FROM series"); !s)
        return s;
    auto insert = db.prepare("INSERT INTO series(space_id, level, bucket, start_ts_ns, end_ts_ns, min_live_bytes, "
                             "max_live_bytes, last_live_bytes, allocs, frees) VALUES (?,?,?,?,?,?,?,?,?,?)");
    if (!insert)
        return insert.error();
    for (size_t i = 0; i < spaces.size(); ++i) {
        if (progress)
            progress("series", static_cast<double>(i) / static_cast<double>(spaces.size()));
        auto stream = EventStream::open(db, spaces[i], std::numeric_limits<TimeNs>::min(), std::numeric_limits<TimeNs>::max());
        if (!stream)
            return stream.error();
        SeriesWriter writer(*insert, *params, spaces[i]);
        LiveEvent ev;
        while (stream->next(ev))
            if (auto s = writer.event(ev); !s)
                return s;
        if (auto s = stream->status(); !s)
            return s;
        if (auto s = writer.finish(); !s)
            return s;
    }
    for (auto [key, value] : { std::pair { "series_origin_ns", params->originNs }, std::pair { "series_base_ns", params->baseNs },
             std::pair { "series_levels", static_cast<int64_t>(params->levels) } }) {
        if (auto s = trace::setMeta(db, key, std::to_string(value)); !s)
            return s;
    }
    if (progress)
        progress("series", 1.0);
    return tx.commit();
}

} // namespace

Status finalizeRecording(trace::Db& db, const Progress& progress)
{
    if (progress)
        progress("indexes", 0.0);
    if (auto s = trace::createIndexes(db); !s)
        return s;
    if (progress)
        progress("indexes", 1.0);
    return buildSeries(db, progress);
}

} // namespace tidemark::analysis
