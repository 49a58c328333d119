// One recording being made of a running program (`tidemark record`): the recording is written under
// a hidden temporary name in the output's directory while the program runs (create), the spool is
// followed on a thread that only gets a core the program leaves idle (follow), and at the end the
// ingest is finished, the recording finalized, described, sealed and renamed into place (finish).
// Until finish() succeeds nobody sees a half-written file, and any failure, or a session dropped
// unfinished, removes it.
#pragma once

#include "collector/ingest.h"
#include "trace/result.h"
#include "trace/sqlite.h"

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace tidemark::collector {

using MetaRows = std::vector<std::pair<std::string_view, std::string>>;

class RecordSession {
public:
    // The partial recording goes into `dir` ("" = the current directory), as
    // .tidemark-partial-<pid>.tmdb; the ingest reads the spool files of `spoolDir`.
    static Result<RecordSession> create(const std::string& dir, std::string spoolDir, IngestOptions options);
    RecordSession(RecordSession&&) noexcept;
    RecordSession& operator=(RecordSession&&) noexcept;
    RecordSession(const RecordSession&) = delete;
    RecordSession& operator=(const RecordSession&) = delete;
    ~RecordSession(); // an unfinished session removes its partial file

    const std::string& partialPath() const;

    // Starts following the spool while the program runs (pairing in small steps at idle priority).
    void follow();
    // Stops following; returns the records paired meanwhile.
    uint64_t stopFollowing();

    struct Finished {
        IngestReport report;
        std::string path; // where the recording went (NAME.1.tmdb, ... when NAME appeared meanwhile)
    };
    // After the program and every process it started are gone: finishes the ingest (with
    // symbolization), finalizes, writes the meta rows `describe` returns for the report, seals the
    // file and renames it to `output` (replacing a file there only with `force`). `stage` is told
    // when each step ends ("ingest", "finalize", "close"). On error the partial file is removed.
    Result<Finished> finish(const std::string& output, bool force, const std::function<MetaRows(const IngestReport&)>& describe,
        const Progress& progress = {}, const std::function<void(const char* stage)>& stage = {});

    // Removes the partial file (a run that cannot be recorded).
    void abandon();

private:
    struct State;
    explicit RecordSession(std::unique_ptr<State> state);
    std::unique_ptr<State> m_state;
};

// Renames `partial` to `output`. Without `force`, a file that appeared there meanwhile is kept and
// the recording goes to NAME.1.tmdb, NAME.2.tmdb, ... (prints a line saying so).
Result<std::string> placeRecording(const std::string& partial, const std::string& output, bool force);

} // namespace tidemark::collector
