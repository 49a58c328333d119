// Recording: opening a .tmdb for analysis, its spaces and time span, and the lazily loaded caches
// (ranges and phase paths) that every query shares. Site and stack naming is in site_names.cpp.
#include "analysis/recording.h"

#include "analysis/internal.h"
#include "trace/recording.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <limits>

namespace tidemark::analysis {

namespace {

Status loadSpaces(trace::Db& db, RecordingCaches& c)
{
    auto st = db.prepare("SELECT id, kind, device, name, capacity_bytes, parent_space_id FROM spaces ORDER BY id");
    if (!st)
        return st.error();
    while (st->step()) {
        SpaceInfo s;
        s.id = st->int64(0);
        s.kind = st->text(1);
        if (!st->isNull(2))
            s.device = st->int64(2);
        s.name = st->text(3);
        if (!st->isNull(4))
            s.capacityBytes = st->int64(4);
        if (!st->isNull(5))
            s.parentSpaceId = st->int64(5);
        c.spaces.push_back(std::move(s));
    }
    return st->status();
}

// min/max through the (space_id, ts) indexes, so opening a 10M-row recording stays instant.
Status loadTimeSpan(trace::Db& db, RecordingCaches& c)
{
    TimeNs lo = std::numeric_limits<TimeNs>::max();
    TimeNs hi = std::numeric_limits<TimeNs>::min();
    auto take = [&](const std::string& sql, int64_t spaceId) -> Status {
        auto st = db.prepare(sql);
        if (!st)
            return st.error();
        if (spaceId >= 0)
            st->bind(1, spaceId);
        if (st->step()) {
            for (int i = 0; i < st->columnCount(); ++i) {
                if (!st->isNull(i)) {
                    lo = std::min(lo, st->int64(i));
                    hi = std::max(hi, st->int64(i));
                }
            }
        }
        return st->status();
    };
    // With the indexes, a seek at either end of each space; without them, one pass over the table
    // (a pass per space and bound would read it many times).
    auto indexed = trace::hasIndexes(db);
    if (!indexed)
        return indexed.error();
    if (!*indexed) {
        if (auto s2 = take("SELECT min(alloc_ts_ns), max(alloc_ts_ns), max(free_ts_ns) FROM allocations", -1); !s2)
            return s2;
    } else {
        for (const auto& s : c.spaces) {
            for (const char* sql : { "SELECT min(alloc_ts_ns) FROM allocations WHERE space_id = ?",
                     "SELECT max(alloc_ts_ns) FROM allocations WHERE space_id = ?",
                     "SELECT max(free_ts_ns) FROM allocations WHERE space_id = ?" }) {
                if (auto s2 = take(sql, s.id); !s2)
                    return s2;
            }
        }
    }
    for (const char* sql : { "SELECT min(start_ts_ns), max(end_ts_ns) FROM processes",
             "SELECT min(start_ts_ns), max(end_ts_ns) FROM ranges", "SELECT min(ts_ns), max(ts_ns) FROM failed_allocations",
             "SELECT min(register_ts_ns), max(unregister_ts_ns) FROM pool_heaps" }) {
        if (auto s2 = take(sql, -1); !s2)
            return s2;
    }
    if (lo > hi)
        lo = hi = 0;
    c.startNs = lo;
    c.endNs = hi;
    return okStatus();
}

void loadSeriesParams(trace::Db& db, RecordingCaches& c)
{
    if (auto p = trace::readSeriesParams(db))
        c.series = *p;
}

Status loadApis(trace::Db& db, RecordingCaches& c)
{
    auto st = db.prepare("SELECT id, name FROM apis");
    if (!st)
        return st.error();
    while (st->step()) {
        auto id = st->int64(0);
        if (id >= 0 && id < 4096) {
            if (c.apiNames.size() <= static_cast<size_t>(id))
                c.apiNames.resize(id + 1);
            c.apiNames[id] = st->text(1);
        }
    }
    return st->status();
}

Status loadRanges(trace::Db& db, RecordingCaches& c)
{
    auto st = db.prepare("SELECT id, parent_id, process_id, thread_id, depth, name_id, domain_id, start_ts_ns, "
                         "end_ts_ns, color FROM ranges");
    if (!st)
        return st.error();
    while (st->step()) {
        RangeRow r;
        r.parentId = st->isNull(1) ? 0 : st->int64(1);
        r.processId = st->int64(2);
        r.threadId = st->isNull(3) ? 0 : st->int64(3);
        r.depth = st->int64(4);
        r.nameId = st->isNull(5) ? 0 : st->int64(5);
        r.domainId = st->isNull(6) ? 0 : st->int64(6);
        r.startNs = st->int64(7);
        r.endNs = st->isNull(8) ? -1 : st->int64(8);
        if (!st->isNull(9))
            r.color = st->int64(9);
        c.ranges.emplace(st->int64(0), r);
    }
    c.rangesLoaded = true;
    return st->status();
}

} // namespace

Result<Recording> Recording::fromDb(trace::Db db)
{
    auto caches = std::make_unique<RecordingCaches>();
    if (auto s = loadSpaces(db, *caches); !s)
        return s.error();
    if (auto s = loadApis(db, *caches); !s)
        return s.error();
    if (auto s = loadTimeSpan(db, *caches); !s)
        return s.error();
    loadSeriesParams(db, *caches);
    return Recording(std::move(db), std::move(caches));
}

Result<Recording> Recording::open(const std::string& path)
{
    auto db = trace::openRecording(path, trace::OpenMode::ReadOnly);
    if (!db)
        return db.error();
    return fromDb(std::move(*db));
}

Recording::Recording(trace::Db db, std::unique_ptr<RecordingCaches> caches)
    : m_db(std::move(db))
    , m_caches(std::move(caches))
{
}

Recording::Recording(Recording&&) noexcept = default;
Recording& Recording::operator=(Recording&&) noexcept = default;
Recording::~Recording() = default;

Result<Recording> Recording::reopen() const { return open(m_db.path()); }

const std::string& Recording::path() const { return m_db.path(); }
trace::Db& Recording::db() { return m_db; }
const std::vector<SpaceInfo>& Recording::spaces() const { return m_caches->spaces; }
TimeNs Recording::startNs() const { return m_caches->startNs; }
TimeNs Recording::endNs() const { return m_caches->endNs; }
bool Recording::hasSeries() const { return m_caches->series.levels > 0; }

const SpaceInfo* Recording::space(int64_t id) const
{
    for (const auto& s : m_caches->spaces)
        if (s.id == id)
            return &s;
    return nullptr;
}

Result<SpaceInfo> Recording::findSpace(std::string_view nameOrKind) const
{
    const SpaceInfo* byKind = nullptr;
    int kindMatches = 0;
    std::string names;
    for (const auto& s : m_caches->spaces) {
        if (s.name == nameOrKind)
            return s;
        if (s.kind == nameOrKind) {
            byKind = &s;
            ++kindMatches;
        }
        names += (names.empty() ? "" : ", ") + s.name;
    }
    if (kindMatches == 1)
        return *byKind;
    if (kindMatches > 1)
        return makeError(ErrorCode::Usage, "space kind '" + std::string(nameOrKind) + "' is ambiguous",
            "name one of: " + names);
    return makeError(ErrorCode::NotFound, "no memory space '" + std::string(nameOrKind) + "' in this recording",
        names.empty() ? "the recording has no memory spaces" : "spaces: " + names);
}

std::string Recording::apiName(int64_t api)
{
    const auto& names = m_caches->apiNames;
    if (api >= 0 && static_cast<size_t>(api) < names.size() && !names[api].empty())
        return names[api];
    return "api-" + std::to_string(api);
}

std::string Recording::stringAt(int64_t stringId)
{
    if (stringId == 0)
        return {};
    auto& cache = m_caches->strings;
    if (auto it = cache.find(stringId); it != cache.end())
        return it->second;
    std::string value;
    if (auto st = m_db.prepare("SELECT value FROM strings WHERE id = ?")) {
        st->bind(1, stringId);
        if (st->step())
            value = st->text(0);
    }
    cache.emplace(stringId, value);
    return value;
}

const std::string& Recording::phaseOf(int64_t rangeId)
{
    static const std::string kNone;
    if (rangeId == 0)
        return kNone;
    auto& c = *m_caches;
    if (auto it = c.phasePaths.find(rangeId); it != c.phasePaths.end())
        return it->second;
    if (!c.rangesLoaded)
        (void)loadRanges(m_db, c);
    std::vector<std::string> parts;
    int64_t id = rangeId;
    for (int guard = 0; id != 0 && guard < 256; ++guard) {
        auto it = c.ranges.find(id);
        if (it == c.ranges.end())
            break;
        std::string name = normalizePhaseName(stringAt(it->second.nameId));
        parts.push_back(name.empty() ? "(unnamed)" : name);
        id = it->second.parentId;
    }
    std::string path;
    for (auto it = parts.rbegin(); it != parts.rend(); ++it)
        path += (path.empty() ? "" : "/") + *it;
    return c.phasePaths.emplace(rangeId, path).first->second;
}

std::string normalizePhaseName(std::string_view name)
{
    static const char* kCounters[] = { "step", "iteration", "iter", "epoch", "batch" };
    std::string lower;
    for (char ch : name)
        lower += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    for (const char* word : kCounters) {
        std::string_view w(word);
        if (lower.size() <= w.size() || lower.compare(0, w.size(), w) != 0)
            continue;
        size_t i = w.size();
        while (i < lower.size() && (lower[i] == ' ' || lower[i] == '_' || lower[i] == '#' || lower[i] == ':' || lower[i] == '-'))
            ++i;
        if (i == lower.size() || !std::isdigit(static_cast<unsigned char>(lower[i])))
            continue;
        size_t j = i;
        while (j < lower.size() && std::isdigit(static_cast<unsigned char>(lower[j])))
            ++j;
        if (j == lower.size())
            return std::string(name.substr(0, w.size()));
    }
    return std::string(name);
}

bool phaseMatches(std::string_view path, std::string_view filter)
{
    if (filter.empty())
        return true;
    if (path == filter)
        return true;
    if (path.size() > filter.size() && path.compare(0, filter.size(), filter) == 0 && path[filter.size()] == '/')
        return true;
    if (filter.find('/') == std::string_view::npos) {
        size_t start = 0;
        while (start <= path.size()) {
            size_t end = path.find('/', start);
            if (end == std::string_view::npos)
                end = path.size();
            if (path.substr(start, end - start) == filter)
                return true;
            start = end + 1;
        }
    }
    return false;
}

Error cancelledError() { return makeError(ErrorCode::Cancelled, "cancelled"); }

} // namespace tidemark::analysis
