// Nsight Systems import on the three real exports (nsys 2022.1, 2022.2, 2024.5): the export's own counts of
// cudaMalloc / cudaFree calls (read here with plain SQL on the export) equal our allocation and free
// counts, the unfreed ones are live at exit, and kernels, copies and NVTX ranges are all there.
#include "import_test_support.h"

#include "trace/enums.h"

#include <gtest/gtest.h>

using namespace tidemark;
using namespace tidemark::import;
using namespace tidemark::import::test;

namespace {

// Distinct calls (nsys 2022 stores some twice, under "cudaMalloc" and "cudaMalloc_v3020").
int64_t callsIn(trace::Db& exportDb, const std::string& api)
{
    return queryInt(exportDb, "SELECT count(DISTINCT r.correlationId) FROM CUPTI_ACTIVITY_KIND_RUNTIME r JOIN StringIds s"
                              " ON s.id = r.nameId WHERE r.returnValue = 0 AND (s.value = '" + api + "' OR s.value GLOB '"
            + api + "_v[0-9]*')");
}

int64_t rowsIn(trace::Db& exportDb, const std::string& table)
{
    auto exists = exportDb.queryInt("SELECT count(*) FROM sqlite_master WHERE name = '" + table + "'");
    return exists.ok() && *exists ? queryInt(exportDb, "SELECT count(*) FROM " + table) : 0;
}

void checkExport(const std::string& path, const std::string& outName)
{
    SCOPED_TRACE(path);
    auto src = trace::Db::open(path, trace::Db::Mode::ReadOnly);
    ASSERT_TRUE(src.ok());
    int64_t mallocs = callsIn(*src, "cudaMalloc"), frees = callsIn(*src, "cudaFree");
    int64_t hostAllocs = callsIn(*src, "cudaHostAlloc") + callsIn(*src, "cudaMallocHost");
    trace::Db db = importAndOpen(path, outName);
    ASSERT_NE(db.handle(), nullptr);
    EXPECT_EQ(*trace::getMeta(db, "source"), "import:nsys");
    EXPECT_EQ(queryInt(db, "SELECT count(*) FROM allocations a JOIN spaces s ON s.id = a.space_id WHERE s.kind = 'device'"), mallocs);
    EXPECT_EQ(queryInt(db, "SELECT count(*) FROM allocations a JOIN spaces s ON s.id = a.space_id WHERE s.kind = 'pinned'"), hostAllocs);
    EXPECT_EQ(queryInt(db, "SELECT count(*) FROM allocations WHERE free_ts_ns IS NOT NULL"), frees);
    EXPECT_EQ(queryInt(db, "SELECT count(*) FROM allocations WHERE free_ts_ns IS NULL"), mallocs + hostAllocs - frees);
    EXPECT_EQ(queryInt(db, "SELECT count(*) FROM allocations WHERE free_ts_ns < alloc_ts_ns"), 0);
    EXPECT_EQ(queryInt(db, "SELECT count(*) FROM kernels"), rowsIn(*src, "CUPTI_ACTIVITY_KIND_KERNEL"));
    EXPECT_EQ(queryInt(db, "SELECT count(*) FROM memcpys"), rowsIn(*src, "CUPTI_ACTIVITY_KIND_MEMCPY"));
    EXPECT_EQ(queryInt(db, "SELECT count(*) FROM memsets"), rowsIn(*src, "CUPTI_ACTIVITY_KIND_MEMSET"));
    EXPECT_EQ(queryInt(db, "SELECT count(*) FROM ranges"),
        queryInt(*src, "SELECT count(*) FROM sqlite_master WHERE name = 'NVTX_EVENTS'")
            ? queryInt(*src, "SELECT count(*) FROM NVTX_EVENTS WHERE eventType IN (59, 60)")
            : 0);
    EXPECT_EQ(queryInt(db, "SELECT count(*) FROM kernels WHERE name_id IS NULL"), 0);
}

} // namespace

TEST(NsysRealData, CloverleafMallocAndFreeCountsAndLiveAtExit)
{
    TIDEMARK_REQUIRE_REALDATA(path, "nsys/pipit__perlmutter-cloverleaf-cuda_4xa100_nsys2024.5.sqlite");
    checkExport(path, "cloverleaf.tmdb");
    trace::Db db = importAndOpen(path, "cloverleaf2.tmdb");
    ASSERT_NE(db.handle(), nullptr);
    // The process ran on one of four A100s; its allocations are on that device.
    EXPECT_EQ(queryInt(db, "SELECT count(DISTINCT space_id) FROM allocations"), 1);
    EXPECT_EQ(queryInt(db, "SELECT count(DISTINCT device) FROM kernels"), 1);
    EXPECT_EQ(queryInt(db, "SELECT s.device FROM allocations a JOIN spaces s ON s.id = a.space_id LIMIT 1"),
        queryInt(db, "SELECT device FROM kernels LIMIT 1"));
    EXPECT_EQ(queryInt(db, "SELECT count(*) FROM spaces WHERE kind = 'device' AND capacity_bytes > 80000000000"), 4);
    EXPECT_NE(trace::getMeta(db, "nsys.version")->find("2024.5"), std::string::npos);
    EXPECT_NE(trace::getMeta(db, "nsys.memory")->find("LIFO"), std::string::npos);
}

TEST(NsysRealData, SaxpyOldSchemaWithNvtxAndBacktraces)
{
    TIDEMARK_REQUIRE_REALDATA(path, "nsys/pipit__saxpy-mpi-cuda_a100_rank0.sqlite");
    checkExport(path, "saxpy.tmdb");
    trace::Db db = importAndOpen(path, "saxpy2.tmdb");
    ASSERT_NE(db.handle(), nullptr);
    // CUDA_CALLCHAINS give every cudaMalloc a stack, and that stack passes through cudaMalloc itself.
    EXPECT_EQ(queryInt(db, "SELECT count(*) FROM allocations WHERE callsite_id IS NULL"), 0);
    EXPECT_EQ(queryInt(db, "WITH RECURSIVE up(a, c) AS (SELECT id, callsite_id FROM allocations UNION ALL"
                           " SELECT up.a, cs.parent_id FROM up JOIN callsites cs ON cs.id = up.c WHERE cs.parent_id IS NOT NULL)"
                           " SELECT count(DISTINCT up.a) FROM up JOIN callsites cs ON cs.id = up.c JOIN symbols s ON s.frame_id = cs.frame_id"
                           " JOIN strings f ON f.id = s.function_id WHERE f.value = 'cudaMalloc'"),
        queryInt(db, "SELECT count(*) FROM allocations"));
    EXPECT_EQ(queryInt(db, "SELECT count(*) FROM ranges r JOIN strings s ON s.id = r.name_id WHERE s.value = 'MPI_Init'"), 1);
    EXPECT_NE(trace::getMeta(db, "nsys.schema_version")->find("2.9"), std::string::npos);
}

TEST(NsysRealData, DlprofPytorchExport)
{
    TIDEMARK_REQUIRE_REALDATA(path, "nsys/dlprof__pytorch_dummy_cnn_rtx2070s.sqlite");
    checkExport(path, "dlprof.tmdb");
}

namespace {

// A minimal export in nsys's own table layout, with memory usage events (no real file here has them).
std::string craftExportWithMemoryUsage()
{
    std::string path = scratch("crafted_nsys.sqlite");
    std::filesystem::remove(path);
    auto db = trace::Db::open(path, trace::Db::Mode::Create);
    EXPECT_TRUE(db.ok());
    const int64_t gpid = int64_t { 100 } << 24, gtid = gpid | 101;
    std::string g = std::to_string(gpid), t = std::to_string(gtid);
    std::string sql = R"(
        CREATE TABLE StringIds (id INTEGER PRIMARY KEY, value TEXT NOT NULL);
        INSERT INTO StringIds VALUES (1, 'cudaMalloc_v3020'), (2, 'cudaFree_v3020'), (3, 'kern');
        CREATE TABLE META_DATA_EXPORT (name TEXT NOT NULL, value TEXT);
        INSERT INTO META_DATA_EXPORT VALUES ('EXPORT_PRODUCT_VERSION', '2099.1'), ('EXPORT_SCHEMA_VERSION', '9.9.9');
        CREATE TABLE PROCESSES (globalPid INTEGER, pid INTEGER, name TEXT);
        INSERT INTO PROCESSES VALUES ()" + g + R"(, 100, 'trainer');
        CREATE TABLE CUPTI_ACTIVITY_KIND_RUNTIME (start INTEGER NOT NULL, end INTEGER NOT NULL, eventClass INTEGER NOT NULL,
            globalTid INTEGER, correlationId INTEGER, nameId INTEGER NOT NULL, returnValue INTEGER NOT NULL, callchainId INTEGER);
        INSERT INTO CUPTI_ACTIVITY_KIND_RUNTIME VALUES (10, 11, 0, )" + t + R"(, 1, 1, 0, NULL),
            (20, 21, 0, )" + t + R"(, 2, 1, 0, NULL), (30, 31, 0, )" + t + R"(, 3, 2, 0, NULL),
            (40, 41, 0, )" + t + R"(, 4, 1, 2, NULL);
        CREATE TABLE CUDA_GPU_MEMORY_USAGE_EVENTS (start INTEGER NOT NULL, globalPid INTEGER NOT NULL, deviceId INTEGER NOT NULL,
            contextId INTEGER NOT NULL, address INTEGER NOT NULL, pc INTEGER NOT NULL, bytes INTEGER NOT NULL,
            memKind INTEGER NOT NULL, memoryOperationType INTEGER NOT NULL, name TEXT, correlationId INTEGER);
        INSERT INTO CUDA_GPU_MEMORY_USAGE_EVENTS VALUES (10, )" + g + R"(, 1, 1, 40960, 0, 1000, 1, 0, NULL, 1),
            (20, )" + g + R"(, 1, 1, 45056, 0, 2000, 1, 0, NULL, 2), (30, )" + g + R"(, 1, 1, 40960, 0, 1000, 1, 1, NULL, 3),
            (50, )" + g + R"(, 1, 1, 49152, 0, 300, 1, 0, NULL, NULL), (60, )" + g + R"(, 1, 1, 49152, 0, 300, 1, 1, NULL, NULL);
    )";
    EXPECT_TRUE(db->exec(sql).ok());
    return path;
}

} // namespace

TEST(NsysImport, MemoryUsageEventsGiveAddressesSizesAndTruePairing)
{
    trace::Db db = importAndOpen(craftExportWithMemoryUsage(), "crafted_nsys.tmdb", Format::Nsys);
    ASSERT_NE(db.handle(), nullptr);
    EXPECT_EQ(queryInt(db, "SELECT pid FROM processes"), 100);
    EXPECT_EQ(queryInt(db, "SELECT count(*) FROM allocations WHERE space_id = (SELECT id FROM spaces WHERE name = 'cuda:1')"), 3);
    // The first allocation is freed first: pairing by address, not LIFO.
    EXPECT_EQ(queryInt(db, "SELECT free_ts_ns FROM allocations WHERE address = 40960"), 30);
    EXPECT_EQ(queryInt(db, "SELECT free_ts_ns IS NULL FROM allocations WHERE address = 45056"), 1);
    EXPECT_EQ(queryInt(db, "SELECT size_bytes FROM allocations WHERE address = 45056"), 2000);
    // Memory without a runtime call (a driver-level allocation) is kept, under its own api.
    EXPECT_EQ(queryInt(db, "SELECT api FROM allocations WHERE address = 49152"), static_cast<int64_t>(Api::NsysMemoryUsage));
    EXPECT_EQ(queryInt(db, "SELECT api FROM allocations WHERE address = 40960"), static_cast<int64_t>(Api::NsysRuntime));
    EXPECT_EQ(queryInt(db, "SELECT count(*) FROM failed_allocations WHERE error_code = 2"), 1);
    EXPECT_EQ(queryInt(db, "SELECT max(used_bytes) FROM samples"), 3000);
    EXPECT_EQ(queryInt(db, "SELECT used_bytes FROM samples ORDER BY ts_ns DESC LIMIT 1"), 2000);
    EXPECT_NE(trace::getMeta(db, "nsys.memory")->find("correlation"), std::string::npos);
    EXPECT_EQ(*trace::getMeta(db, "nsys.version"), "2099.1");
}
