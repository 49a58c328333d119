// Finalization: builds indexes (the level-of-detail series builder is added by the analysis work).
#include "analysis/finalize.h"

#include "trace/recording.h"

namespace tidemark::analysis {

Status finalizeRecording(trace::Db& db, const Progress& progress)
{
    if (progress)
        progress("indexes", 0.0);
    if (auto s = trace::createIndexes(db); !s)
        return s;
    if (progress)
        progress("indexes", 1.0);
    return okStatus();
}

} // namespace tidemark::analysis
