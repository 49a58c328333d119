// The series writer and its parameters (see series.h).
#include "trace/series.h"

#include "trace/bulk_insert.h"
#include "trace/meta_keys.h"
#include "trace/recording.h"

#include <algorithm>
#include <limits>
#include <string>

namespace tidemark::trace {

const std::vector<std::string> kSeriesColumns = { "space_id", "level", "bucket", "start_ts_ns", "end_ts_ns",
    "min_live_bytes", "max_live_bytes", "last_live_bytes", "allocs", "frees" };

namespace {
    constexpr int64_t kLevel0Buckets = 1 << 16; // finest level: at most this many buckets per space
} // namespace

SeriesParams chooseSeriesParams(int64_t lo, int64_t hi)
{
    if (lo > hi)
        lo = hi = 0;
    SeriesParams p;
    p.originNs = lo;
    // In unsigned arithmetic: times from damaged input may span more than int64 holds.
    const uint64_t width = static_cast<uint64_t>(hi) - static_cast<uint64_t>(lo);
    int64_t span = width >= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ? std::numeric_limits<int64_t>::max()
                                                                                          : static_cast<int64_t>(width) + 1;
    p.baseNs = std::max<int64_t>(1, (span + kLevel0Buckets - 1) / kLevel0Buckets);
    p.levels = 1;
    while ((static_cast<uint64_t>(p.baseNs) << (p.levels - 1)) < static_cast<uint64_t>(span) && p.levels < 62)
        ++p.levels;
    return p;
}

Status writeSeriesParams(Db& db, const SeriesParams& p)
{
    for (auto [key, value] : { std::pair { kMetaSeriesOriginNs, p.originNs }, std::pair { kMetaSeriesBaseNs, p.baseNs },
             std::pair { kMetaSeriesLevels, static_cast<int64_t>(p.levels) } }) {
        if (auto s = setMeta(db, key, std::to_string(value)); !s)
            return s;
    }
    return okStatus();
}

std::optional<SeriesParams> readSeriesParams(Db& db)
{
    auto origin = getMeta(db, kMetaSeriesOriginNs);
    auto base = getMeta(db, kMetaSeriesBaseNs);
    auto levels = getMeta(db, kMetaSeriesLevels);
    if (!origin || !base || !levels)
        return std::nullopt;
    try {
        SeriesParams p;
        p.originNs = std::stoll(*origin);
        p.baseNs = std::max<int64_t>(1, std::stoll(*base));
        p.levels = std::stoi(*levels);
        if (p.levels < 0 || p.levels > 62)
            return std::nullopt;
        return p;
    } catch (...) {
        return std::nullopt; // not numbers: treated as no series
    }
}

SeriesWriter::SeriesWriter(const SeriesParams& p, int64_t spaceId)
    : m_params(p)
    , m_space(spaceId)
    , m_open(static_cast<size_t>(std::max(0, p.levels)))
    , m_closed(m_open.size())
{
}

// One change of live bytes is a bucket of its own: its envelope spans the bytes before and after.
Status SeriesWriter::event(int64_t ts, int64_t delta, bool isAlloc)
{
    int64_t next = addLiveSaturating(m_live, delta);
    return bucket(ts, std::min(m_live, next), std::max(m_live, next), next, isAlloc ? 1 : 0, isAlloc ? 0 : 1);
}

Status SeriesWriter::bucket(
    int64_t ts, int64_t minLive, int64_t maxLive, int64_t lastLive, int64_t allocs, int64_t frees)
{
    if (m_open.empty())
        return okStatus();
    int64_t b = std::max<int64_t>(0, m_params.bucketOf(ts, 0)); // invalid rows may free before origin
    Bucket& cur = m_open[0];
    if (b < cur.index)
        return makeError(ErrorCode::Corrupt, "series input out of time order in space " + std::to_string(m_space));
    if (cur.index != b) {
        close(0);
        cur = Bucket { b, minLive, maxLive, lastLive, allocs, frees };
    } else {
        cur.minLive = std::min(cur.minLive, minLive);
        cur.maxLive = std::max(cur.maxLive, maxLive);
        cur.lastLive = lastLive;
        cur.allocs += allocs;
        cur.frees += frees;
    }
    m_live = lastLive;
    return okStatus();
}

std::vector<RowBatch> SeriesWriter::finish()
{
    for (int level = 0; level < static_cast<int>(m_open.size()); ++level)
        close(level);
    std::vector<RowBatch> out;
    for (int level = 0; level < static_cast<int>(m_closed.size()); ++level) {
        if (m_closed[level].empty())
            continue;
        RowBatch& rows = out.emplace_back();
        for (const Bucket& b : m_closed[level]) {
            int64_t start = m_params.bucketStart(b.index, level);
            rows.beginRow();
            for (int64_t v : { m_space, static_cast<int64_t>(level), b.index, start, start + m_params.width(level),
                     b.minLive, b.maxLive, b.lastLive, b.allocs, b.frees })
                rows.value(v);
        }
        m_closed[level] = {};
    }
    return out;
}

Status SeriesWriter::finish(Db& db)
{
    std::vector<RowBatch> levels = finish();
    if (levels.empty())
        return okStatus();
    auto bulk = BulkInsert::create(db, "series", kSeriesColumns);
    if (!bulk)
        return bulk.error();
    for (const RowBatch& rows : levels)
        if (auto s = bulk->insert(rows); !s)
            return s;
    return okStatus();
}

// Keeps the open bucket of a level as a row and merges it into its parent on the next level.
void SeriesWriter::close(int level)
{
    Bucket& b = m_open[level];
    if (b.index < 0)
        return;
    m_closed[level].push_back(b);
    if (level + 1 < static_cast<int>(m_open.size())) {
        Bucket& parent = m_open[level + 1];
        if (parent.index != b.index / 2) {
            close(level + 1);
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
}

} // namespace tidemark::trace
