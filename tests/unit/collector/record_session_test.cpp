// The recording of a run (collector::RecordSession): written under a hidden name beside its output,
// followed live, then finished into place with its meta; never a half-written file at the output,
// and nothing left behind when it fails or is dropped.
#include "collector/record_session.h"
#include "spool_builder.h"
#include "trace/recording.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <thread>
#include <unistd.h>

namespace fs = std::filesystem;
using namespace tidemark;
using tidemark::testing::SpoolBuilder;

namespace {

class RecordSessionTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        m_dir = fs::temp_directory_path() / ("tidemark_record_session_" + std::to_string(::getpid()));
        fs::remove_all(m_dir);
        fs::create_directories(m_dir / "out");
        fs::create_directories(m_dir / "spool");
    }
    void TearDown() override { fs::remove_all(m_dir); }

    // A process that allocated three blocks and freed one.
    void writeSpool()
    {
        SpoolBuilder b(4242);
        b.hostAlloc(1, 10, 0x1000, 100).hostAlloc(1, 11, 0x2000, 200).hostAlloc(1, 12, 0x3000, 300);
        b.hostFree(1, 13, 0x2000).exit(1, 20);
        b.write(m_dir / "spool");
    }
    Result<collector::RecordSession> create()
    {
        return collector::RecordSession::create((m_dir / "out").string(), (m_dir / "spool").string(), {});
    }
    // The files in the output directory, names only.
    std::vector<std::string> outFiles()
    {
        std::vector<std::string> names;
        for (const auto& e : fs::directory_iterator(m_dir / "out"))
            names.push_back(e.path().filename().string());
        std::sort(names.begin(), names.end());
        return names;
    }
    static collector::MetaRows meta(const collector::IngestReport&) { return { { "program", "/bin/test" } }; }
    fs::path m_dir;
};

TEST_F(RecordSessionTest, FinishPutsTheRecordingInPlaceWithItsRowsAndMeta)
{
    writeSpool();
    auto session = create();
    ASSERT_TRUE(session) << session.error().message;
    EXPECT_EQ(outFiles(), (std::vector<std::string> { fs::path(session->partialPath()).filename().string() }))
        << "only the hidden partial file while the program runs";
    EXPECT_EQ(fs::path(session->partialPath()).filename().string().front(), '.');
    const std::string output = (m_dir / "out" / "run.tmdb").string();
    std::vector<std::string> stages;
    auto done = session->finish(output, false, meta, {}, [&](const char* s) { stages.emplace_back(s); });
    ASSERT_TRUE(done) << done.error().message;
    EXPECT_EQ(done->path, output);
    EXPECT_EQ(done->report.allocations, 3u);
    EXPECT_EQ(stages, (std::vector<std::string> { "ingest", "finalize", "close" }));
    EXPECT_EQ(outFiles(), (std::vector<std::string> { "run.tmdb" })) << "the partial file is gone";
    auto db = trace::openRecording(output);
    ASSERT_TRUE(db) << db.error().message;
    EXPECT_EQ(*db->queryInt("SELECT count(*) FROM allocations"), 3);
    EXPECT_EQ(*db->queryInt("SELECT count(*) FROM allocations WHERE free_ts_ns IS NULL"), 2);
    auto program = trace::getMeta(*db, "program");
    ASSERT_TRUE(program);
    EXPECT_EQ(*program, "/bin/test");
    EXPECT_GT(*db->queryInt("SELECT count(*) FROM series"), 0) << "finalized";
    EXPECT_FALSE(fs::exists(output + "-wal")) << "sealed: one self-contained file";
    auto mode = db->prepare("PRAGMA journal_mode");
    ASSERT_TRUE(mode && mode->step());
    EXPECT_EQ(mode->text(0), "delete");
}

TEST_F(RecordSessionTest, FollowingWhileTheProgramRunsThenFinishingLosesAndDoublesNothing)
{
    auto session = create();
    ASSERT_TRUE(session);
    session->follow();
    writeSpool(); // the spool appears while the session follows
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    session->stopFollowing();
    auto done = session->finish((m_dir / "out" / "run.tmdb").string(), false, meta);
    ASSERT_TRUE(done) << done.error().message;
    EXPECT_EQ(done->report.allocations, 3u);
    EXPECT_EQ(done->report.still_live, 2u);
}

TEST_F(RecordSessionTest, AFileThatAppearedMeanwhileIsKeptWithoutForceAndReplacedWithIt)
{
    writeSpool();
    const std::string output = (m_dir / "out" / "run.tmdb").string();
    std::ofstream(output) << "someone else's";
    auto first = create();
    ASSERT_TRUE(first);
    auto kept = first->finish(output, false, meta);
    ASSERT_TRUE(kept) << kept.error().message;
    EXPECT_EQ(kept->path, (m_dir / "out" / "run.1.tmdb").string());
    std::ifstream in(output);
    EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), "someone else's");
    auto second = create();
    ASSERT_TRUE(second);
    auto replaced = second->finish(output, true, meta);
    ASSERT_TRUE(replaced) << replaced.error().message;
    EXPECT_EQ(replaced->path, output);
    EXPECT_TRUE(trace::openRecording(output)) << "replaced by the recording";
}

TEST_F(RecordSessionTest, ASessionDroppedOrAbandonedLeavesNothing)
{
    writeSpool();
    {
        auto session = create();
        ASSERT_TRUE(session);
        session->follow();
    } // dropped unfinished (record failed before the program started, say)
    EXPECT_TRUE(outFiles().empty());
    auto session = create();
    ASSERT_TRUE(session);
    session->abandon();
    EXPECT_TRUE(outFiles().empty());
}

TEST_F(RecordSessionTest, AFailedFinishRemovesThePartialFileAndSaysWhy)
{
    writeSpool();
    auto session = create();
    ASSERT_TRUE(session);
    auto done = session->finish((m_dir / "missing" / "run.tmdb").string(), false, meta);
    ASSERT_FALSE(done);
    EXPECT_NE(done.error().message.find("cannot rename it into place"), std::string::npos) << done.error().message;
    EXPECT_TRUE(outFiles().empty());
}

TEST_F(RecordSessionTest, AnUnwritableDirectoryIsRefusedAtCreate)
{
    auto session = collector::RecordSession::create((m_dir / "nope").string(), (m_dir / "spool").string(), {});
    ASSERT_FALSE(session);
    EXPECT_NE(session.error().message.find("cannot write a recording in"), std::string::npos) << session.error().message;
}

} // namespace
