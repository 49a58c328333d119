// The level-of-detail series, written while ingesting: pass 2 sees every change of a space's live
// bytes in time order, so the envelope costs nothing more than the pairing. It follows the rules of
// the rows' event stream (analysis EventStream): frees before allocations at equal timestamps, and a
// zero-length lifetime carries no bytes. A space whose rows end up different from what was seen (two
// sources merged into one row, a free extended afterwards) is "spoiled": its rows are dropped and
// analysis finalize rebuilds it from the allocation rows, which are the truth.
#pragma once

#include "trace/series.h"

#include <cstdint>
#include <memory>
#include <vector>

namespace tidemark::collector {

class LiveSeries {
public:
    // Off until started: ingest starts it only when one spool file holds every event, so each
    // space's changes arrive in one time-ordered stream.
    void start(const trace::SeriesParams& params);
    bool active() const { return m_active; }

    void alloc(int64_t space, int64_t ts, int64_t size);
    void free(int64_t space, int64_t ts, int64_t allocTs, int64_t size);
    // The row of this space will differ from the events seen (see above).
    void spoil(int64_t space);

    // Closes the open buckets, drops the spoiled spaces' rows and writes the parameters.
    Status finish(trace::Db& db);
    uint64_t spoiledSpaces() const;

private:
    struct Space {
        std::unique_ptr<trace::SeriesWriter> writer;
        int64_t lastTs = INT64_MIN; // a thread's clock may step back across cores: then the rows decide
        int64_t pendingTs = INT64_MIN; // allocations at this time wait: a free at the same time goes first
        std::vector<int64_t> pending;
        bool spoiled = false;
    };
    Space* at(int64_t space);
    void event(Space* s, int64_t ts, int64_t delta, bool isAlloc);
    void flushPending(Space* s);

    bool m_active = false;
    trace::SeriesParams m_params;
    std::vector<Space> m_spaces; // by space id
    Status m_status = okStatus();
};

} // namespace tidemark::collector
