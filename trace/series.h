// The level-of-detail `series` table shared by its two writers: the collector (while it ingests,
// for spaces whose live bytes it sees change in time order) and analysis finalize (from the rows,
// for everything else). Bucket b of level L covers [origin + b*base*2^L, origin + (b+1)*base*2^L).
#pragma once

#include "trace/bulk_insert.h"
#include "trace/sqlite.h"

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

namespace tidemark::trace {

struct SeriesParams {
    int64_t originNs = 0;
    int64_t baseNs = 1;
    int levels = 0; // 0 = no series
    int64_t width(int level) const { return baseNs << level; }
    int64_t bucketOf(int64_t t, int level) const { return t < originNs ? -1 : (t - originNs) / width(level); }
    int64_t bucketStart(int64_t b, int level) const { return originNs + b * width(level); }
};

// Live bytes plus a change, held at the int64 limits: a damaged size must not wrap the sum around.
inline int64_t addLiveSaturating(int64_t live, int64_t delta)
{
    int64_t next = 0;
    if (__builtin_add_overflow(live, delta, &next))
        return delta > 0 ? std::numeric_limits<int64_t>::max() : std::numeric_limits<int64_t>::min();
    return next;
}

// The columns of `series`, in the order SeriesWriter gives them.
extern const std::vector<std::string> kSeriesColumns;

// Parameters for events in [lo, hi]: at most 65536 finest buckets, levels up to one bucket.
SeriesParams chooseSeriesParams(int64_t lo, int64_t hi);
// Kept in meta as series_origin_ns, series_base_ns, series_levels.
Status writeSeriesParams(Db& db, const SeriesParams& p);
std::optional<SeriesParams> readSeriesParams(Db& db);

// Builds the series rows of one space from its live-bytes changes, given in time order (frees
// before allocations at equal timestamps), and writes them sorted by key at finish() (in bulk: far
// cheaper than a row at a time). Memory: at most about two rows per finest bucket.
class SeriesWriter {
public:
    SeriesWriter(const SeriesParams& p, int64_t spaceId);

    Status event(int64_t ts, int64_t delta, bool isAlloc);
    // Or whole buckets of a finer width starting at `ts` (their envelopes include the live bytes
    // they start with), given in time order, each inside one of the finest buckets.
    Status bucket(int64_t ts, int64_t minLive, int64_t maxLive, int64_t lastLive, int64_t allocs, int64_t frees);
    Status finish(Db& db);
    // Or the rows for the caller to write (columns: kSeriesColumns): one batch per level, finest first,
    // each in bucket order, so that together they are in key order.
    std::vector<RowBatch> finish();

private:
    struct Bucket {
        int64_t index = -1;
        int64_t minLive = 0, maxLive = 0, lastLive = 0;
        int64_t allocs = 0, frees = 0;
    };
    void close(int level);

    SeriesParams m_params;
    int64_t m_space;
    std::vector<Bucket> m_open; // per level
    std::vector<std::vector<Bucket>> m_closed; // per level, in bucket order
    int64_t m_live = 0;
};

} // namespace tidemark::trace
