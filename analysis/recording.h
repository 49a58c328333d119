// Recording: an open .tmdb file for analysis. Owns the SQLite connection and the caches every
// query shares (spaces, ranges, the callsite trie, symbols, site names), so repeated queries on the
// same recording stay cheap. One Recording is used by one thread at a time; a GUI worker opens its
// own (open() again, or reopen()).
#pragma once

#include "analysis/types.h"
#include "trace/result.h"
#include "trace/sqlite.h"

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace tidemark::analysis {

struct RecordingCaches; // private

class Recording {
public:
    // Opens read-only and never writes to the file (a read-only file or directory opens). Errors
    // (typed, one line): Io, NotARecording, Corrupt, NewerSchema. Queries use the secondary indexes
    // when the writer added them (trace/finalize.h) and scan otherwise.
    static Result<Recording> open(const std::string& path);
    // Wraps an already open connection (tests build recordings in memory or in temp files).
    static Result<Recording> fromDb(trace::Db db);

    Recording(Recording&&) noexcept;
    Recording& operator=(Recording&&) noexcept;
    ~Recording();

    // Another connection to the same file with empty caches (for a second thread).
    Result<Recording> reopen() const;

    const std::string& path() const;
    trace::Db& db();

    // Long scans poll this flag and return ErrorCode::Cancelled when it becomes true.
    void setCancelFlag(const std::atomic<bool>* flag) { m_cancel = flag; }
    bool cancelled() const { return m_cancel && m_cancel->load(std::memory_order_relaxed); }

    const std::vector<SpaceInfo>& spaces() const;
    // By name ("cuda:0", "host", "pool:cuda:0") or by kind when unique ("device", "pool").
    Result<SpaceInfo> findSpace(std::string_view nameOrKind) const;
    const SpaceInfo* space(int64_t id) const;

    TimeNs startNs() const; // earliest event of the recording
    TimeNs endNs() const;   // latest event (or process end)
    bool hasSeries() const; // finalized: the level-of-detail series exists

    // Names: the site of a leaf callsite, the full stack (outermost first, inline chains expanded),
    // the normalized phase path of a range ("step/forward/layer3"), API names.
    const Site& siteOf(int64_t callsiteId);
    Result<std::vector<Location>> stack(int64_t callsiteId);
    const std::string& phaseOf(int64_t rangeId);
    std::string apiName(int64_t api);
    std::string stringAt(int64_t stringId);

    // Internal to analysis/: the shared caches.
    RecordingCaches& caches() { return *m_caches; }

private:
    Recording(trace::Db db, std::unique_ptr<RecordingCaches> caches);
    trace::Db m_db;
    std::unique_ptr<RecordingCaches> m_caches;
    const std::atomic<bool>* m_cancel = nullptr;
};

// "step 12" / "iteration 3" / "epoch 1" → "step" (the number dropped) so phases group across steps;
// other names are kept. Exposed for presenters that show raw range names next to paths.
std::string normalizePhaseName(std::string_view name);

// True when the phase path matches a --phase filter: the filter equals the path, is a prefix of it
// at a '/' boundary, or (without '/') equals one of its segments.
bool phaseMatches(std::string_view path, std::string_view filter);

} // namespace tidemark::analysis
