// The level-of-detail series, built while ingesting: pass 2 sees every change of a space's live
// bytes in time order, so the envelope costs little more than the pairing. It follows the rules of
// the rows' event stream (analysis EventStream): frees before allocations at equal timestamps, and a
// zero-length lifetime carries no bytes. The run's length is unknown while it runs, so each space
// keeps buckets of a width that doubles whenever there are too many (merging pairs is exact), and
// finish() picks parameters whose finest buckets are whole multiples of every space's width.
//
// A space whose rows end up different from what was seen (two sources merged into one row, a free
// extended afterwards, records out of time order, events from two processes) is "spoiled": analysis
// finalize builds its series from the allocation rows, which are the truth.
#pragma once

#include "trace/series.h"

#include <cstdint>
#include <vector>

namespace tidemark::collector {

class RowWriter;

class LiveSeries {
public:
    // `owner` is the process image the event came from.
    void alloc(int64_t space, int64_t owner, int64_t ts, int64_t size);
    void free(int64_t space, int64_t owner, int64_t ts, int64_t allocTs, int64_t size);
    // A timestamp some row will carry without an alloc()/free() here (it widens the time span).
    void note(int64_t ts);
    // The row of this space will differ from the events seen (see above).
    void spoil(int64_t space);

    // Hands the series rows of every space not spoiled to `out`; returns the parameters, for meta
    // (finalize uses them too).
    trace::SeriesParams finish(RowWriter& out);

    // Buckets a space keeps before it doubles their width.
    static constexpr size_t kMaxBuckets = size_t(1) << 17;

private:
    struct Bucket {
        int64_t index; // ts >> shift
        int64_t minLive, maxLive, lastLive;
        int64_t allocs, frees;
    };
    struct Space {
        int64_t owner = 0;
        int shift = 0; // buckets are 2^shift ns wide
        std::vector<Bucket> buckets;
        int64_t live = 0;
        int64_t lastTs = INT64_MIN; // out of time order means the rows decide
        int64_t pendingTs = INT64_MIN; // allocations at this time wait: a free at the same time goes first
        std::vector<int64_t> pending;
        bool spoiled = false;
    };
    Space* slot(int64_t space); // grows the table; null for no space
    Space* at(int64_t space, int64_t owner); // null when the space is left to finalize
    void event(Space& s, int64_t ts, int64_t delta, bool isAlloc);
    void flushPending(Space& s);
    static void coarsen(Space& s);
    trace::SeriesParams params() const;

    std::vector<Space> m_spaces; // by space id
    int64_t m_lo = INT64_MAX, m_hi = INT64_MIN;
};

} // namespace tidemark::collector
