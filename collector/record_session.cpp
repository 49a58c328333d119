// The create / follow / finish life of one recording made by `tidemark record`.
#include "collector/record_session.h"

#include "trace/finalize.h"
#include "trace/recording.h"

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <unistd.h>

namespace tidemark::collector {

namespace fs = std::filesystem;

struct RecordSession::State {
    std::string path;
    trace::Db db;
    std::unique_ptr<LiveIngest> ingest;
    std::thread follower;
    std::atomic<bool> stop { false };
    std::atomic<uint64_t> paired { 0 };
    bool finished = false;

    ~State()
    {
        stop.store(true, std::memory_order_release);
        if (follower.joinable())
            follower.join();
    }
    void removeFile()
    {
        db = trace::Db();
        for (const char* suffix : { "", "-wal", "-shm", "-journal" })
            ::unlink((path + suffix).c_str());
    }
};

RecordSession::RecordSession(std::unique_ptr<State> state)
    : m_state(std::move(state))
{
}
RecordSession::RecordSession(RecordSession&&) noexcept = default;
RecordSession& RecordSession::operator=(RecordSession&&) noexcept = default;

RecordSession::~RecordSession()
{
    if (!m_state)
        return;
    stopFollowing();
    if (!m_state->finished)
        abandon();
}

Result<RecordSession> RecordSession::create(const std::string& dir, std::string spoolDir, IngestOptions options)
{
    auto state = std::make_unique<State>();
    state->path = (fs::path(dir) / (".tidemark-partial-" + std::to_string(::getpid()) + ".tmdb")).string();
    auto db = trace::createRecording(state->path);
    if (!db)
        return Error { db.error().code,
            "cannot write a recording in " + (dir.empty() ? std::string(".") : dir) + ": " + db.error().message,
            db.error().hint };
    state->db = std::move(*db);
    // A private file, deleted if anything fails: no journal to write every page twice.
    (void)state->db.exec("PRAGMA journal_mode = OFF");
    state->ingest = std::make_unique<LiveIngest>(std::move(spoolDir), state->db, std::move(options));
    return RecordSession(std::move(state));
}

const std::string& RecordSession::partialPath() const { return m_state->path; }

void RecordSession::follow()
{
    State& s = *m_state;
    if (s.follower.joinable() || !s.ingest || !s.ingest->begin().ok())
        return;
    s.follower = std::thread([&s] {
        sched_param idle {};
        pthread_setschedparam(pthread_self(), SCHED_IDLE, &idle);
        pthread_setname_np(pthread_self(), "tidemark-live");
        // Small steps (~10 ms each): once the program ends, the rest goes faster on two threads.
        while (!s.stop.load(std::memory_order_acquire)) {
            if (uint64_t n = s.ingest->poll(16384); n > 0) {
                s.paired += n;
                continue;
            }
            for (int i = 0; i < 5 && !s.stop.load(std::memory_order_acquire); ++i)
                std::this_thread::sleep_for(std::chrono::milliseconds(2));
        }
    });
}

uint64_t RecordSession::stopFollowing()
{
    m_state->stop.store(true, std::memory_order_release);
    if (m_state->follower.joinable())
        m_state->follower.join();
    return m_state->paired.load();
}

void RecordSession::abandon()
{
    stopFollowing();
    m_state->ingest.reset();
    m_state->removeFile();
}

Result<RecordSession::Finished> RecordSession::finish(const std::string& output, bool force,
    const std::function<MetaRows(const IngestReport&)>& describe, const Progress& progress,
    const std::function<void(const char*)>& stage)
{
    State& s = *m_state;
    stopFollowing();
    auto failed = [&](const Error& e) {
        abandon();
        return e;
    };
    auto mark = [&](const char* name) {
        if (stage)
            stage(name);
    };
    if (!s.ingest)
        return failed(makeError(ErrorCode::Io, "the recording was already finished or abandoned"));
    auto ingested = s.ingest->finish(progress);
    s.ingest.reset();
    if (!ingested)
        return failed(ingested.error());
    mark("ingest"); // symbolization included (IngestOptions::symbolize)
    // The ingest wrote the series of every space one process's events made in time order; the rest
    // comes from the rows here, with the indexes only where they pay, so the recording is ready
    // sooner (readers never add them).
    const trace::FinalizeOptions finalize { trace::FinalizeOptions::Indexes::WhenUseful };
    if (auto st = trace::finalizeRecording(s.db, progress, finalize); !st)
        return failed(st.error());
    mark("finalize");
    {
        trace::Transaction tx(s.db);
        for (const auto& [key, value] : describe ? describe(*ingested) : MetaRows {})
            if (auto st = trace::setMeta(s.db, key, value); !st)
                return failed(st.error());
        if (auto st = tx.commit(); !st)
            return failed(st.error());
    }
    if (auto st = trace::sealRecording(s.db); !st)
        return failed(st.error());
    mark("close");
    s.db = trace::Db();
    auto placed = placeRecording(s.path, output, force);
    if (!placed)
        return failed(placed.error());
    s.finished = true;
    return Finished { std::move(*ingested), std::move(*placed) };
}

Result<std::string> placeRecording(const std::string& partial, const std::string& output, bool force)
{
    if (force) {
        if (std::rename(partial.c_str(), output.c_str()) != 0)
            return makeError(ErrorCode::Io, std::string("cannot rename it into place: ") + std::strerror(errno));
        return output;
    }
    fs::path out(output);
    std::string stem = out.extension() == ".tmdb" ? (out.parent_path() / out.stem()).string() : output;
    for (int n = 0; n < 1000; ++n) {
        std::string name = n == 0 ? output : stem + "." + std::to_string(n) + ".tmdb";
        int rc = ::renameat2(AT_FDCWD, partial.c_str(), AT_FDCWD, name.c_str(), RENAME_NOREPLACE);
        int err = rc == 0 ? 0 : errno;
        if (err == EINVAL || err == ENOSYS) {
            // A file system without RENAME_NOREPLACE: look, then rename (a small race, as before).
            if (::access(name.c_str(), F_OK) == 0)
                continue;
            err = std::rename(partial.c_str(), name.c_str()) == 0 ? 0 : errno;
        }
        if (err == 0) {
            if (n > 0)
                std::fprintf(stderr, "tidemark: %s appeared while the program ran and was kept\n", output.c_str());
            return name;
        }
        if (err != EEXIST)
            return makeError(ErrorCode::Io, std::string("cannot rename it into place: ") + std::strerror(err));
    }
    return makeError(ErrorCode::Io, "cannot find a free name beside " + output);
}

} // namespace tidemark::collector
