// Tests of spool ingest: spool files built here from the wire structs, ingested into a fresh
// recording, and the rows compared with what the events imply.
#include "collector/ingest.h"
#include "spool_builder.h"
#include "trace/recording.h"

#include <gtest/gtest.h>

#include <unistd.h>

namespace fs = std::filesystem;
using namespace tidemark;
using tidemark::testing::SpoolBuilder;

namespace {

using Rows = std::vector<std::vector<std::string>>;

class IngestTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        m_dir = fs::temp_directory_path()
            / ("tidemark_ingest_" + std::to_string(::getpid()) + "_"
                + ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(m_dir);
        fs::create_directories(m_dir / "spool");
    }
    void TearDown() override { fs::remove_all(m_dir); }

    fs::path spool() const { return m_dir / "spool"; }

    collector::IngestReport ingestAll()
    {
        auto db = trace::createRecording((m_dir / "out.tmdb").string());
        EXPECT_TRUE(db) << db.error().message;
        m_db = std::move(*db);
        auto report = collector::ingest(spool().string(), m_db);
        EXPECT_TRUE(report) << report.error().message;
        return report ? *report : collector::IngestReport {};
    }

    int64_t num(const std::string& sql)
    {
        auto v = m_db.queryInt(sql);
        EXPECT_TRUE(v) << sql << ": " << (v ? "" : v.error().message);
        return v ? *v : -1;
    }

    Rows rows(const std::string& sql)
    {
        Rows out;
        auto stmt = m_db.prepare(sql);
        EXPECT_TRUE(stmt) << sql;
        if (!stmt)
            return out;
        while (stmt->step()) {
            std::vector<std::string> r;
            for (int c = 0; c < stmt->columnCount(); ++c)
                r.push_back(stmt->isNull(c) ? "NULL" : stmt->text(c));
            out.push_back(r);
        }
        return out;
    }

    int64_t stat(const std::string& name, int64_t process = 1)
    {
        return num("SELECT value FROM capture_stats WHERE source = 'collector' AND name = '" + name
            + "' AND process_id = " + std::to_string(process));
    }

    fs::path m_dir;
    trace::Db m_db;
};

TEST_F(IngestTest, PairsFreesWithLiveAllocationsAndKeepsLeaksOpen)
{
    SpoolBuilder b(100);
    b.hostAlloc(1, 10, 0x1000, 64).hostAlloc(1, 11, 0x2000, 128).hostFree(1, 12, 0x1000);
    b.hostAlloc(1, 13, 0x1000, 32); // address reused after its free
    b.exit(1, 20);
    b.write(spool());
    auto report = ingestAll();
    EXPECT_EQ(report.allocations, 3u);
    EXPECT_EQ(report.still_live, 2u);
    EXPECT_EQ(report.unmatched_frees, 0u);
    EXPECT_FALSE(report.cut_short);
    Rows r = rows("SELECT address, size_bytes, alloc_ts_ns, free_ts_ns, free_api, source_mask FROM allocations "
                  "ORDER BY alloc_ts_ns");
    ASSERT_EQ(r.size(), 3u);
    EXPECT_EQ(r[0], (std::vector<std::string> { "4096", "64", "10", "12", "10", "1" }));
    EXPECT_EQ(r[1], (std::vector<std::string> { "8192", "128", "11", "NULL", "NULL", "1" }));
    EXPECT_EQ(r[2], (std::vector<std::string> { "4096", "32", "13", "NULL", "NULL", "1" }));
    EXPECT_EQ(num("SELECT count(*) FROM spaces WHERE name = 'host' AND kind = 'host'"), 1);
    EXPECT_EQ(rows("SELECT end_reason, end_ts_ns FROM processes")[0], (std::vector<std::string> { "exit", "20" }));
}

TEST_F(IngestTest, CountsUnmatchedFreesWithoutStoringThem)
{
    SpoolBuilder b(100);
    b.hostAlloc(1, 10, 0x1000, 64).hostFree(1, 11, 0x9999).hostFree(1, 12, 0x1000).hostFree(1, 13, 0x1000);
    b.exit(1, 20);
    b.write(spool());
    auto report = ingestAll();
    EXPECT_EQ(report.unmatched_frees, 2u); // an unknown address, and a double free
    EXPECT_EQ(num("SELECT count(*) FROM allocations"), 1);
    EXPECT_EQ(stat("unmatched_frees"), 2);
    EXPECT_EQ(stat("frees"), 1);
    EXPECT_EQ(stat("records"), 5);
}

// A forked child starts with a copy of its parent's heap: freeing a block the parent had allocated
// before the fork and not freed is inherited, not unmatched; a block freed before the fork, one
// allocated after it, or a second free of an inherited block still is. A grandchild inherits what
// its parent had inherited and not yet freed.
TEST_F(IngestTest, AForkedChildsFreesOfItsParentsBlocksAreInheritedNotUnmatched)
{
    SpoolBuilder(100, 1, 0, 1)
        .hostAlloc(1, 2, 0xa000, 64) // A: live at both forks
        .hostAlloc(1, 3, 0xe000, 48) // E: live at both forks, freed by the grandchild
        .hostAlloc(1, 3, 0xb000, 32)
        .hostFree(1, 4, 0xb000) // B: freed before the fork
        .hostAlloc(1, 10, 0xc000, 16) // C: allocated after the fork
        .exit(1, 30)
        .write(spool());
    SpoolBuilder(101, 100, 0, 5)
        .hostFree(1, 6, 0xa000) // inherited
        .hostFree(1, 7, 0xb000) // unmatched: the parent had freed it
        .hostFree(1, 8, 0xa000) // unmatched: A was freed already
        .hostAlloc(1, 9, 0xd000, 8)
        .hostFree(1, 10, 0xd000) // its own
        .hostFree(1, 11, 0xc000) // unmatched: allocated by the parent after the fork
        .exit(1, 20)
        .write(spool());
    SpoolBuilder(102, 101, 0, 12)
        .hostFree(1, 13, 0xe000) // inherited through its parent
        .hostFree(1, 14, 0xa000) // unmatched: its parent freed A before forking it
        .exit(1, 15)
        .write(spool());
    auto report = ingestAll();
    EXPECT_EQ(report.processes, 3u);
    EXPECT_EQ(report.inherited_frees, 2u);
    EXPECT_EQ(report.unmatched_frees, 4u);
    EXPECT_EQ(stat("inherited_frees", 2), 1);
    EXPECT_EQ(stat("unmatched_frees", 2), 3);
    EXPECT_EQ(stat("inherited_frees", 3), 1);
    EXPECT_EQ(stat("unmatched_frees", 3), 1);
    EXPECT_EQ(num("SELECT count(*) FROM capture_stats WHERE name = 'inherited_frees' AND process_id = 1"), 0);
    EXPECT_EQ(stat("unmatched_frees", 1), 0);
    EXPECT_EQ(num("SELECT count(*) FROM allocations WHERE process_id = 2"), 1); // only its own block
}

TEST_F(IngestTest, PairsAcrossThreadsByTimeNotFileOrder)
{
    // Thread 2 flushed first: it allocated X at 10 and, after thread 1 freed X at 20, got X again at 30.
    SpoolBuilder b(100);
    b.hostAlloc(2, 10, 0x5000, 100).hostAlloc(2, 30, 0x5000, 200).flush(2);
    b.hostFree(1, 20, 0x5000).flush(1);
    b.exit(1, 40);
    b.write(spool());
    auto report = ingestAll();
    EXPECT_EQ(report.unmatched_frees, 0u);
    EXPECT_EQ(stat("replaced_live"), 0);
    Rows r = rows("SELECT size_bytes, alloc_ts_ns, free_ts_ns FROM allocations ORDER BY alloc_ts_ns");
    ASSERT_EQ(r.size(), 2u);
    EXPECT_EQ(r[0], (std::vector<std::string> { "100", "10", "20" }));
    EXPECT_EQ(r[1], (std::vector<std::string> { "200", "30", "NULL" }));
    // Each allocation is attributed to the thread that made it.
    EXPECT_EQ(num("SELECT t.tid FROM allocations a JOIN threads t ON t.id = a.thread_id WHERE a.alloc_ts_ns = 30"), 2);
}

TEST_F(IngestTest, StoresAnAllocationSeenByTwoSourcesOnce)
{
    SpoolBuilder b(100);
    const auto dev = SpaceKind::Device;
    b.alloc(1, 100, dev, 0, 0xD000, 1 << 20, kSourcePreload)
        .alloc(1, 101, dev, 0, 0xD000, 1 << 20, kSourceCuptiCallback);
    b.free(1, 200, dev, 0, 0xD000, kSourcePreload).free(1, 201, dev, 0, 0xD000, kSourceCuptiCallback).flush(1);
    // The CUPTI activity view of the same allocation arrives in a later buffer, after its free.
    b.alloc(7, 100, dev, 0, 0xD000, 1 << 20, kSourceCuptiActivity, Api::CuptiMemoryActivity)
        .free(7, 200, dev, 0, 0xD000, kSourceCuptiActivity, Api::CuptiMemoryActivity);
    b.alloc(1, 300, dev, 1, 0xD000, 4096, kSourcePreload); // same address, other device: another allocation
    b.exit(1, 400);
    b.write(spool());
    auto report = ingestAll();
    EXPECT_EQ(report.unmatched_frees, 0u);
    Rows r = rows("SELECT s.name, a.size_bytes, a.alloc_ts_ns, a.free_ts_ns, a.source_mask FROM allocations a "
                  "JOIN spaces s ON s.id = a.space_id ORDER BY a.alloc_ts_ns");
    ASSERT_EQ(r.size(), 2u);
    EXPECT_EQ(r[0],
        (std::vector<std::string> { "cuda:0", "1048576", "100", "201",
            std::to_string(kSourcePreload | kSourceCuptiCallback | kSourceCuptiActivity) }));
    EXPECT_EQ(r[1], (std::vector<std::string> { "cuda:1", "4096", "300", "NULL", "1" }));
    EXPECT_EQ(stat("merged_allocations"), 2);
    EXPECT_EQ(stat("duplicate_frees"), 2);
}

TEST_F(IngestTest, AMergedAllocationTakesItsStackFromThePreferredSource)
{
    SpoolBuilder b(100);
    b.module(1, 1, "/usr/bin/app", 0, 0x400000, 0x500000);
    b.stack(1, 1, { 0x401000, 0x402000 }); // seen in the CUPTI callback (driver frames first)
    b.stack(1, 2, { 0x403000, 0x402000 }); // seen by the runtime hook
    auto viaCallback = SpoolBuilder::make<wire::AllocRecord>(wire::Kind::Alloc);
    viaCallback.api = static_cast<uint16_t>(Api::CudaMalloc);
    viaCallback.space_kind = static_cast<uint8_t>(SpaceKind::Device);
    viaCallback.ts_ns = 50;
    viaCallback.address = 0xE000;
    viaCallback.size = 64;
    viaCallback.stack_id = 1;
    viaCallback.source = kSourceCuptiCallback;
    b.add(1, viaCallback);
    auto viaHook = viaCallback;
    viaHook.ts_ns = 51;
    viaHook.stack_id = 2;
    viaHook.source = kSourcePreload;
    b.add(1, viaHook);
    b.exit(1, 60);
    b.write(spool());
    ingestAll();
    EXPECT_EQ(rows("SELECT a.alloc_ts_ns, a.source_mask, f.rel_pc FROM allocations a JOIN callsites c ON c.id = "
                   "a.callsite_id JOIN frames f ON f.id = c.frame_id"),
        (Rows { { "50", "3", std::to_string(0x403000) } }));
}

TEST_F(IngestTest, StoresAFailureSeenByHookAndCallbackOnce)
{
    SpoolBuilder b(100);
    auto f = SpoolBuilder::make<wire::AllocFailedRecord>(wire::Kind::AllocFailed);
    f.api = static_cast<uint16_t>(Api::CuMemAlloc);
    f.space_kind = static_cast<uint8_t>(SpaceKind::Device);
    f.ts_ns = 1000;
    f.size = 4096;
    f.error_code = 2;
    f.source = kSourceCuptiCallback;
    f.device_free_bytes = f.device_total_bytes = UINT64_MAX;
    b.add(1, f);
    auto hook = f;
    hook.api = static_cast<uint16_t>(Api::CudaMalloc);
    hook.ts_ns = 1010;
    hook.source = kSourcePreload;
    hook.device_free_bytes = 10;
    hook.device_total_bytes = 100;
    b.add(1, hook);
    auto retry = hook; // the program retries: a second failure, seen by the hook alone
    retry.ts_ns = 1020;
    b.add(1, retry);
    b.exit(1, 2000);
    b.write(spool());
    ingestAll();
    EXPECT_EQ(rows("SELECT ts_ns, api, error_name, device_free_bytes, source_mask FROM failed_allocations ORDER BY id"),
        (Rows { { "1000", std::to_string(int(Api::CudaMalloc)), "cudaErrorMemoryAllocation", "10", "3" },
            { "1020", std::to_string(int(Api::CudaMalloc)), "cudaErrorMemoryAllocation", "10", "1" } }));
    EXPECT_EQ(stat("merged_failures"), 1);
}

TEST_F(IngestTest, BuildsTheProcessTreeFromForksAndExecs)
{
    // pid 100 forks 101 at t=3, then execs at t=5 (image 1) and forks 102 at t=7 from the new image.
    SpoolBuilder(100, 1, 0, 1)
        .processInfo(1, 1, "/bin/launcher", std::string("launcher\0-x\0", 12))
        .exit(1, 5, wire::ExitReason::Exec)
        .write(spool());
    SpoolBuilder(101, 100, 0, 3).exit(1, 4).write(spool());
    SpoolBuilder(100, 1, 1, 5).processInfo(1, 5, "/usr/bin/worker", "worker").exit(1, 9).write(spool());
    SpoolBuilder(102, 100, 0, 7).exit(1, 8, wire::ExitReason::ForkChildStop).write(spool());
    auto report = ingestAll();
    EXPECT_EQ(report.processes, 4u);
    EXPECT_EQ(report.root_process_id, 1);
    Rows r = rows("SELECT p.pid, coalesce(parent.pid, 0), coalesce(parent.exe, '-'), p.end_reason FROM processes p "
                  "LEFT JOIN processes parent ON parent.id = p.parent_id ORDER BY p.start_ts_ns");
    ASSERT_EQ(r.size(), 4u);
    EXPECT_EQ(r[0], (std::vector<std::string> { "100", "0", "-", "exec" }));
    EXPECT_EQ(r[1], (std::vector<std::string> { "101", "100", "/bin/launcher", "exit" }));
    EXPECT_EQ(r[2], (std::vector<std::string> { "100", "100", "/bin/launcher", "exit" }));
    EXPECT_EQ(r[3], (std::vector<std::string> { "102", "100", "/usr/bin/worker", "not_followed" }));
    EXPECT_EQ(rows("SELECT command_line FROM processes WHERE exe = '/bin/launcher'")[0][0], "launcher -x");
}

TEST_F(IngestTest, MapsRangesWithParentsDepthAndOpenEnds)
{
    SpoolBuilder b(100);
    b.string(1, 1, "epoch").string(1, 2, "forward");
    b.rangeBegin(1, 10, 7, 0, 1).rangeBegin(1, 11, 8, 7, 2);
    b.hostAlloc(1, 12, 0x1000, 10, 0, 8);
    b.rangeEnd(1, 13, 8);
    b.hostAlloc(1, 14, 0x2000, 10, 0, 7);
    b.exit(1, 20);
    b.write(spool());
    ingestAll();
    Rows r = rows("SELECT r.id, n.value, r.depth, coalesce(r.parent_id, 0), r.start_ts_ns, r.end_ts_ns, r.kind "
                  "FROM ranges r JOIN strings n ON n.id = r.name_id ORDER BY r.start_ts_ns");
    ASSERT_EQ(r.size(), 2u);
    EXPECT_EQ(r[0][1], "epoch");
    EXPECT_EQ(r[0][2], "0");
    EXPECT_EQ(r[0][5], "NULL"); // still open when the recording ended
    EXPECT_EQ(r[1][1], "forward");
    EXPECT_EQ(r[1][2], "1");
    EXPECT_EQ(r[1][3], r[0][0]);
    EXPECT_EQ(r[1][5], "13");
    EXPECT_EQ(r[1][6], "push");
    EXPECT_EQ(rows("SELECT n.value FROM allocations a JOIN ranges r ON r.id = a.range_id JOIN strings n ON "
                   "n.id = r.name_id ORDER BY a.alloc_ts_ns"),
        (Rows { { "forward" }, { "epoch" } }));
    EXPECT_EQ(stat("open_ranges"), 1);
}

TEST_F(IngestTest, StoresPoolRegionsInsideTheirHeap)
{
    SpoolBuilder b(100);
    b.alloc(1, 10, SpaceKind::Device, 0, 0x100000, 4096, kSourcePreload);
    auto heap = SpoolBuilder::make<wire::HeapRegisterRecord>(wire::Kind::HeapRegister);
    heap.heap_id = 1;
    heap.usage = 1;
    heap.ts_ns = 11;
    heap.address = 0x100000;
    heap.size = 4096;
    b.add(1, heap);
    auto region = SpoolBuilder::make<wire::RegionRegisterRecord>(wire::Kind::RegionRegister);
    region.heap_id = 1;
    region.ts_ns = 12;
    region.address = 0x100000;
    region.size = 256;
    b.add(1, region);
    region.ts_ns = 13;
    region.address = 0x100100;
    region.size = 512;
    b.add(1, region);
    // Region events carry heap id 0 (docs/gpu-capture.md): the region is found by address.
    auto unreg = SpoolBuilder::make<wire::RegionEventRecord>(wire::Kind::RegionUnregister);
    unreg.ts_ns = 14;
    unreg.address = 0x100000;
    b.add(1, unreg);
    b.string(1, 5, "activations");
    auto name = SpoolBuilder::make<wire::RegionEventRecord>(wire::Kind::RegionName);
    name.ts_ns = 14;
    name.address = 0x100100;
    name.name_id = 5;
    b.add(1, name);
    auto reset = SpoolBuilder::make<wire::HeapEventRecord>(wire::Kind::HeapReset);
    reset.heap_id = 1;
    reset.ts_ns = 15;
    b.add(1, reset);
    b.exit(1, 20);
    b.write(spool());
    ingestAll();
    EXPECT_EQ(rows("SELECT pool.kind, pool.device, parent.name FROM spaces pool JOIN spaces parent ON "
                   "parent.id = pool.parent_space_id WHERE pool.name = 'pool:cuda:0'"),
        (Rows { { "pool", "0", "cuda:0" } }));
    EXPECT_EQ(rows("SELECT address, size_bytes, usage, unregister_ts_ns FROM pool_heaps"),
        (Rows { { "1048576", "4096", "sub_allocator", "NULL" } }));
    EXPECT_EQ(rows("SELECT address, size_bytes, alloc_ts_ns, free_ts_ns, free_api, source_mask FROM pool_regions "
                   "ORDER BY alloc_ts_ns"),
        (Rows { { "1048576", "256", "12", "14", std::to_string(int(Api::NvtxMemRegion)), "8" },
            { "1048832", "512", "13", "15", std::to_string(int(Api::NvtxMemHeap)), "8" } }));
    EXPECT_EQ(num("SELECT count(*) FROM pool_regions r JOIN pool_heaps h ON h.id = r.heap_id "
                  "WHERE r.space_id = h.space_id"),
        2);
    EXPECT_EQ(stat("regions_closed_by_heap"), 1);
    EXPECT_EQ(
        rows("SELECT n.value FROM pool_regions r JOIN strings n ON n.id = r.name_id"), (Rows { { "activations" } }));
}

TEST_F(IngestTest, AResizedRegionEndsItsRowAndStartsANewOne)
{
    SpoolBuilder b(100);
    b.hostAlloc(1, 10, 0x700000, 1 << 16); // a host sub-allocator's block
    auto heap = SpoolBuilder::make<wire::HeapRegisterRecord>(wire::Kind::HeapRegister);
    heap.heap_id = 3;
    heap.ts_ns = 11;
    heap.address = 0x700000;
    heap.size = 1 << 16;
    b.add(1, heap);
    auto region = SpoolBuilder::make<wire::RegionRegisterRecord>(wire::Kind::RegionRegister);
    region.heap_id = 3;
    region.ts_ns = 12;
    region.address = 0x700040;
    region.size = 100;
    b.add(1, region);
    auto resize = SpoolBuilder::make<wire::RegionEventRecord>(wire::Kind::RegionResize);
    resize.ts_ns = 13;
    resize.address = 0x700040;
    resize.size = 300;
    b.add(1, resize);
    auto unregister = SpoolBuilder::make<wire::HeapEventRecord>(wire::Kind::HeapUnregister);
    unregister.heap_id = 3;
    unregister.ts_ns = 14;
    b.add(1, unregister);
    b.exit(1, 20);
    b.write(spool());
    ingestAll();
    EXPECT_EQ(rows("SELECT s.name, r.size_bytes, r.alloc_ts_ns, r.free_ts_ns FROM pool_regions r JOIN spaces s ON "
                   "s.id = r.space_id ORDER BY r.alloc_ts_ns"),
        (Rows { { "pool:host", "100", "12", "13" }, { "pool:host", "300", "13", "14" } }));
    EXPECT_EQ(rows("SELECT unregister_ts_ns FROM pool_heaps"), (Rows { { "14" } }));
}

TEST_F(IngestTest, RecordsFailedAllocationsWithWhatWasLive)
{
    SpoolBuilder b(100);
    b.alloc(1, 10, SpaceKind::Device, 0, 0xA000, 1000, kSourcePreload);
    b.alloc(1, 11, SpaceKind::Device, 0, 0xB000, 500, kSourcePreload);
    b.free(1, 12, SpaceKind::Device, 0, 0xB000, kSourcePreload);
    auto f = SpoolBuilder::make<wire::AllocFailedRecord>(wire::Kind::AllocFailed);
    f.api = static_cast<uint16_t>(Api::CudaMalloc);
    f.space_kind = static_cast<uint8_t>(SpaceKind::Device);
    f.ts_ns = 13;
    f.size = 1 << 30;
    f.error_code = 2;
    f.source = kSourcePreload;
    f.device_free_bytes = 100;
    f.device_total_bytes = 8000;
    b.add(1, f);
    b.exit(1, 20);
    b.write(spool());
    auto report = ingestAll();
    EXPECT_EQ(report.failed_allocations, 1u);
    EXPECT_EQ(rows("SELECT size_bytes, live_bytes, error_name, device_free_bytes, device_total_bytes FROM "
                   "failed_allocations"),
        (Rows { { "1073741824", "1000", "cudaErrorMemoryAllocation", "100", "8000" } }));
    EXPECT_EQ(num("SELECT capacity_bytes FROM spaces WHERE name = 'cuda:0'"), 8000);
}

TEST_F(IngestTest, ACutShortSpoolKeepsEveryRecordThatLandedWholeAndSaysSo)
{
    SpoolBuilder b(100);
    b.hostAlloc(1, 10, 0x1000, 64).hostAlloc(1, 11, 0x2000, 64).flush(1);
    b.hostAlloc(1, 12, 0x3000, 64).hostFree(1, 13, 0x1000).flush(1);
    b.write(spool(), 12); // the process died while its last chunk was being written
    auto report = ingestAll();
    EXPECT_TRUE(report.cut_short);
    EXPECT_NE(report.cut_short_detail.find("mid-chunk (12 bytes lost)"), std::string::npos)
        << report.cut_short_detail;
    EXPECT_EQ(report.truncated_bytes, 12u);
    // The torn chunk's first record landed whole and is kept; the free cut in two is not.
    EXPECT_EQ(report.allocations, 3u);
    EXPECT_EQ(report.bad_records, 1u);
    EXPECT_EQ(num("SELECT count(*) FROM allocations WHERE free_ts_ns IS NULL"), 3);
    EXPECT_EQ(rows("SELECT end_reason, end_ts_ns FROM processes"), (Rows { { "cut_short", "12" } }));
    EXPECT_EQ(stat("truncated_bytes"), 12);
}

TEST_F(IngestTest, ASpoolWhoseOnlyChunkWasCutKeepsItsWholeRecords)
{
    // The disk filled during the first write of a big chunk: the kernel landed what fitted.
    SpoolBuilder b(100);
    for (uint64_t i = 0; i < 100; ++i)
        b.hostAlloc(1, 10 + i, 0x1000 + 0x100 * i, 7001 + i % 16);
    b.flush(1);
    b.write(spool(), 1000);
    auto report = ingestAll();
    EXPECT_TRUE(report.cut_short);
    EXPECT_EQ(report.truncated_bytes, 1000u);
    EXPECT_EQ(report.allocations, (100u * 40 - 1000) / 40) << "a HostAlloc record is 40 bytes";
    EXPECT_EQ(report.bad_records, 0u);
    EXPECT_EQ(num("SELECT count(*) FROM allocations WHERE size_bytes BETWEEN 7001 AND 7016"), 75);
}

TEST_F(IngestTest, ATornChunkHeaderLosesOnlyThatChunk)
{
    SpoolBuilder b(100);
    b.hostAlloc(1, 10, 0x1000, 64).flush(1);
    b.hostAlloc(1, 11, 0x2000, 64).flush(1);
    b.write(spool(), 40 + 8); // the second chunk's 16-byte header is cut in two
    auto report = ingestAll();
    EXPECT_TRUE(report.cut_short);
    EXPECT_EQ(report.allocations, 1u);
    EXPECT_EQ(report.truncated_bytes, 8u);
}

TEST_F(IngestTest, ASpoolWithoutExitRecordIsCutShort)
{
    SpoolBuilder(100).hostAlloc(1, 10, 0x1000, 64).write(spool());
    auto report = ingestAll();
    EXPECT_TRUE(report.cut_short);
    EXPECT_NE(report.cut_short_detail.find("without an exit record"), std::string::npos);
}

TEST_F(IngestTest, SkipsFilesThatAreNotSpoolsAndNamesThem)
{
    SpoolBuilder(100).hostAlloc(1, 10, 0x1000, 64).exit(1, 11).write(spool());
    std::ofstream(spool() / "junk.tmspool") << "this is not a spool file at all, but long enough for a header....."
                                               "...............................";
    auto report = ingestAll();
    EXPECT_EQ(report.files, 2u);
    EXPECT_EQ(report.bad_files, 1u);
    EXPECT_EQ(report.allocations, 1u);
    EXPECT_EQ(num("SELECT count(*) FROM capture_stats WHERE name = 'bad_file:junk.tmspool'"), 1);
}

TEST_F(IngestTest, TurnsStacksIntoATrieAndDropsCaptureLibraryFrames)
{
    SpoolBuilder b(100);
    b.module(1, 1, "/opt/tidemark/lib/tidemark/libtidemark.so", 0x7000000, 0x7000000, 0x7100000);
    b.module(1, 1, "/usr/bin/app", 0x400000, 0x400000, 0x500000);
    // innermost first: hook frame in libtidemark.so, then leaf, then callers up to main
    b.stack(1, 1, { 0x7000100, 0x401000, 0x402000, 0x403000 });
    b.stack(1, 2, { 0x7000100, 0x401500, 0x402000, 0x403000 });
    b.hostAlloc(1, 10, 0x1000, 1, 1).hostAlloc(1, 11, 0x2000, 1, 2).hostAlloc(1, 12, 0x3000, 1, 1);
    b.exit(1, 20);
    b.write(spool());
    ingestAll();
    EXPECT_EQ(num("SELECT count(*) FROM callsites"), 4); // main, caller, leaf A, leaf B
    EXPECT_EQ(num("SELECT count(*) FROM frames f JOIN modules m ON m.id = f.module_id WHERE m.path LIKE "
                  "'%libtidemark.so'"),
        0);
    Rows leaves = rows("SELECT f.rel_pc, c.depth, pf.rel_pc FROM allocations a JOIN callsites c ON c.id = "
                       "a.callsite_id JOIN frames f ON f.id = c.frame_id JOIN callsites p ON p.id = c.parent_id "
                       "JOIN frames pf ON pf.id = p.frame_id ORDER BY a.alloc_ts_ns");
    EXPECT_EQ(leaves, (Rows { { "4096", "2", "8192" }, { "5376", "2", "8192" }, { "4096", "2", "8192" } }));
    EXPECT_EQ(num("SELECT count(*) FROM callsites WHERE parent_id IS NULL"), 1);
}

// Stacks that share outer frames with an earlier one (wire v2) resolve to the same callsites as the
// full frame lists would: through chains, through a parent holding a capture-library frame in the
// middle (whose trie path is shorter than its frame count), and with lost or impossible parents.
TEST_F(IngestTest, StacksSharingOuterFramesResolveToTheirFullPaths)
{
    SpoolBuilder b(100);
    b.module(1, 1, "/opt/tidemark/lib/tidemark/libtidemark.so", 0x7000000, 0x7000000, 0x7100000);
    b.module(1, 1, "/usr/bin/app", 0x400000, 0x400000, 0x500000);
    // Full frames, innermost first; 0x7000200 sits in the middle (our dlclose hook calling back).
    std::map<uint32_t, std::vector<uint64_t>> full {
        { 1, { 0x401000, 0x402000, 0x403000, 0x404000 } },
        { 2, { 0x401100, 0x402100, 0x403000, 0x404000 } },          // shares 2 with 1
        { 3, { 0x401200, 0x402100, 0x403000, 0x404000 } },          // shares 3 with 2
        { 4, { 0x401300, 0x7000200, 0x405000, 0x404000 } },         // shares 1 with 3
        { 5, { 0x401400, 0x402400, 0x7000200, 0x405000, 0x404000 } }, // shares 3 with 4 (one is ours)
        { 6, { 0x401500, 0x405000, 0x404000 } },                    // shares 2 with 5
        { 7, { 0x401600, 0x402000, 0x403000, 0x404000, 0x406000 } }, // not shared: a plain record
    };
    b.stack(1, 1, full[1]);
    b.stackSharing(1, 2, 1, 2, { 0x401100, 0x402100 });
    b.stackSharing(1, 3, 2, 3, { 0x401200 });
    b.stackSharing(1, 4, 3, 1, { 0x401300, 0x7000200, 0x405000 });
    b.stackSharing(1, 5, 4, 3, { 0x401400, 0x402400 });
    b.stackSharing(1, 6, 5, 2, { 0x401500 });
    b.stack(1, 7, full[7]);
    b.stackSharing(1, 80, 79, 2, { 0x401700 }); // parent never recorded: keeps its own frame
    b.stackSharing(1, 9, 9, 1, { 0x401800 });  // names itself: dropped as corrupt
    // Resolved in an order other than the records' (stack 6 first: its whole chain at once).
    uint64_t ts = 10;
    for (uint32_t id : { 6, 3, 1, 5, 2, 4, 7, 80, 9 })
        b.hostAlloc(1, ts++, 0x1000 * id, 16, id);
    b.exit(1, 30);
    b.write(spool());
    ingestAll();
    auto pathOf = [&](uint32_t id) {
        Rows r = rows("WITH RECURSIVE up(id, parent_id, frame_id) AS (SELECT c.id, c.parent_id, c.frame_id FROM "
                      "allocations a JOIN callsites c ON c.id = a.callsite_id WHERE a.address = "
            + std::to_string(0x1000 * id)
            + " UNION ALL SELECT c.id, c.parent_id, c.frame_id FROM callsites c JOIN up ON c.id = up.parent_id) "
              "SELECT f.rel_pc FROM up JOIN frames f ON f.id = up.frame_id");
        std::vector<uint64_t> ips; // innermost first, as the CTE walks up
        for (const auto& row : r)
            ips.push_back(0x400000 + std::stoull(row[0]));
        return ips;
    };
    for (const auto& [id, frames] : full) {
        std::vector<uint64_t> want;
        for (uint64_t ip : frames)
            if (ip < 0x7000000)
                want.push_back(ip);
        EXPECT_EQ(pathOf(id), want) << "stack " << id;
    }
    EXPECT_EQ(pathOf(80), (std::vector<uint64_t> { 0x401700 }));
    EXPECT_TRUE(pathOf(9).empty());
    EXPECT_EQ(stat("unknown_stacks"), 2); // 80's parent, and 9 itself
}

} // namespace
