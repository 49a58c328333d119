// The one description of an allocation row: its columns are the table's, and both ways of writing a
// row (the bulk batch of the collector, the bound statement of the importers and fixtures) put each
// field in the column of its name.
#include "trace/recording.h"
#include "trace/rows.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>
#include <unistd.h>

using namespace tidemark;
using namespace tidemark::trace;

namespace {

// Every field a value of its own, so a value in its neighbour's column shows.
AllocationRow distinctRow()
{
    return { .space_id = 11,
        .process_id = 12,
        .thread_id = 13,
        .api = Api::CudaMalloc,
        .address = 0x7f0000001500,
        .size_bytes = 16,
        .alloc_ts_ns = 17,
        .free_ts_ns = 18,
        .free_api = Api::CudaFree,
        .callsite_id = 20,
        .range_id = 21,
        .heap_id = 22,
        .stream = 23,
        .source_mask = 24,
        .name_id = 25 };
}

const std::vector<std::pair<std::string, int64_t>> kExpected = { { "space_id", 11 }, { "process_id", 12 },
    { "thread_id", 13 }, { "api", static_cast<int64_t>(Api::CudaMalloc) }, { "address", 0x7f0000001500 },
    { "size_bytes", 16 }, { "alloc_ts_ns", 17 }, { "free_ts_ns", 18 }, { "free_api", static_cast<int64_t>(Api::CudaFree) },
    { "callsite_id", 20 }, { "range_id", 21 }, { "heap_id", 22 }, { "stream", 23 }, { "source_mask", 24 },
    { "name_id", 25 } };

class RowsTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        m_path = std::filesystem::path(::testing::TempDir()) / ("rows_" + std::to_string(getpid()) + ".tmdb");
        auto db = createRecording(m_path.string());
        ASSERT_TRUE(db) << db.error().message;
        m_db.emplace(std::move(*db));
        // The rows point at ids no other table holds; the check is on the columns alone.
        ASSERT_TRUE(m_db->exec("PRAGMA foreign_keys = OFF"));
    }
    void TearDown() override
    {
        m_db.reset();
        std::filesystem::remove(m_path);
    }
    // Each column of the row with this id, read back by name.
    void expectColumns(int64_t id)
    {
        for (const auto& [column, value] : kExpected) {
            auto got = m_db->queryInt("SELECT " + column + " FROM allocations WHERE id = " + std::to_string(id));
            ASSERT_TRUE(got) << column;
            EXPECT_EQ(*got, value) << column;
        }
    }
    std::filesystem::path m_path;
    std::optional<Db> m_db;
};

TEST_F(RowsTest, TheColumnsAreTheTablesInOrderAfterItsId)
{
    auto st = m_db->prepare("SELECT name FROM pragma_table_info('allocations') ORDER BY cid");
    ASSERT_TRUE(st);
    std::vector<std::string> columns;
    while (st->step())
        columns.push_back(st->text(0));
    ASSERT_FALSE(columns.empty());
    EXPECT_EQ(columns.front(), "id");
    columns.erase(columns.begin());
    EXPECT_EQ(columns, kAllocationColumns);
}

TEST_F(RowsTest, ABoundRowPutsEveryFieldInItsColumn)
{
    auto st = m_db->prepare(insertSql("allocations", kAllocationColumns));
    ASSERT_TRUE(st) << st.error().message;
    bindRow(*st, distinctRow());
    ASSERT_TRUE(st->run());
    expectColumns(1);
}

TEST_F(RowsTest, ABulkRowPutsEveryFieldInItsColumn)
{
    auto bulk = BulkInsert::create(*m_db, "allocations", kAllocationColumns);
    ASSERT_TRUE(bulk) << bulk.error().message;
    RowBatch batch;
    appendRow(batch, distinctRow());
    EXPECT_EQ(batch.values.size(), kAllocationColumns.size());
    ASSERT_TRUE(bulk->insert(batch));
    expectColumns(1);
}

TEST_F(RowsTest, UnsetOptionalFieldsAreNull)
{
    AllocationRow row { .space_id = 1, .process_id = 1, .api = Api::Malloc, .size_bytes = 8, .alloc_ts_ns = 5 };
    RowBatch batch;
    appendRow(batch, row);
    auto bulk = BulkInsert::create(*m_db, "allocations", kAllocationColumns);
    ASSERT_TRUE(bulk);
    ASSERT_TRUE(bulk->insert(batch));
    auto st = m_db->prepare(insertSql("allocations", kAllocationColumns));
    ASSERT_TRUE(st);
    bindRow(*st, row);
    ASSERT_TRUE(st->run());
    for (const char* column :
        { "thread_id", "free_ts_ns", "free_api", "callsite_id", "range_id", "heap_id", "stream", "name_id" }) {
        auto nulls = m_db->queryInt(std::string("SELECT count(*) FROM allocations WHERE ") + column + " IS NULL");
        ASSERT_TRUE(nulls);
        EXPECT_EQ(*nulls, 2) << column;
    }
}

} // namespace

namespace {

// The columns of a table in order, read from the schema.
std::vector<std::string> tableColumns(Db& db, std::string_view table)
{
    std::vector<std::string> columns;
    auto st = db.prepare("SELECT name FROM pragma_table_info('" + std::string(table) + "') ORDER BY cid");
    while (st && st->step())
        columns.push_back(st->text(0));
    return columns;
}

template <typename Row> std::vector<std::string> described()
{
    return std::vector<std::string>(Row::kColumns.begin(), Row::kColumns.end());
}

// Writes the row through insertSql<Row>() and bindRow, then reads each column by name.
template <typename Row>
void expectRoundTrip(Db& db, const Row& row, const std::vector<std::pair<std::string, std::string>>& expected,
    const std::string& where = "id = 7")
{
    auto st = db.prepare(insertSql<Row>());
    ASSERT_TRUE(st) << st.error().message;
    bindRow(*st, row);
    ASSERT_TRUE(st->run());
    for (const auto& [column, value] : expected) {
        auto got = db.prepare("SELECT quote(" + column + ") FROM " + std::string(Row::kTable) + " WHERE " + where);
        ASSERT_TRUE(got && got->step()) << column;
        EXPECT_EQ(got->text(0), value) << Row::kTable << "." << column;
    }
}

} // namespace

TEST_F(RowsTest, TheSmallerTablesAreDescribedColumnForColumn)
{
    EXPECT_EQ(described<HeapRow>(), tableColumns(*m_db, HeapRow::kTable));
    EXPECT_EQ(described<RangeRow>(), tableColumns(*m_db, RangeRow::kTable));
    EXPECT_EQ(described<FailedAllocationRow>(), tableColumns(*m_db, FailedAllocationRow::kTable));
    EXPECT_EQ(described<KernelRow>(), tableColumns(*m_db, KernelRow::kTable));
    EXPECT_EQ(described<MemcpyRow>(), tableColumns(*m_db, MemcpyRow::kTable));
    EXPECT_EQ(described<MemsetRow>(), tableColumns(*m_db, MemsetRow::kTable));
    EXPECT_EQ(described<SampleRow>(), tableColumns(*m_db, SampleRow::kTable));
    EXPECT_EQ(described<StringRow>(), tableColumns(*m_db, StringRow::kTable));
    EXPECT_EQ(described<ProcessRow>(), tableColumns(*m_db, ProcessRow::kTable));
    EXPECT_EQ(described<ThreadRow>(), tableColumns(*m_db, ThreadRow::kTable));
    EXPECT_EQ(described<ModuleRow>(), tableColumns(*m_db, ModuleRow::kTable));
    EXPECT_EQ(described<FrameRow>(), tableColumns(*m_db, FrameRow::kTable));
    EXPECT_EQ(described<SymbolRow>(), tableColumns(*m_db, SymbolRow::kTable));
    EXPECT_EQ(described<CallsiteRow>(), tableColumns(*m_db, CallsiteRow::kTable));
    EXPECT_EQ(described<SpaceRow>(), tableColumns(*m_db, SpaceRow::kTable));
    EXPECT_EQ(described<MarkRow>(), tableColumns(*m_db, MarkRow::kTable));
    EXPECT_EQ(described<CaptureStatRow>(), tableColumns(*m_db, CaptureStatRow::kTable));
}

TEST_F(RowsTest, EveryFieldOfTheStructureTablesLandsInItsColumn)
{
    expectRoundTrip(*m_db, StringRow { .id = 7, .value = "forward" }, { { "id", "7" }, { "value", "'forward'" } });
    expectRoundTrip(*m_db,
        ProcessRow { .id = 7,
            .pid = 2,
            .ppid = 3,
            .parent_id = 4,
            .exe = "/usr/bin/python3",
            .command_line = "python3 train.py",
            .rank = 5,
            .host = "node1",
            .start_ts_ns = 6,
            .end_ts_ns = 8,
            .end_reason = "exit" },
        { { "id", "7" }, { "pid", "2" }, { "ppid", "3" }, { "parent_id", "4" }, { "exe", "'/usr/bin/python3'" },
            { "command_line", "'python3 train.py'" }, { "rank", "5" }, { "host", "'node1'" }, { "start_ts_ns", "6" },
            { "end_ts_ns", "8" }, { "end_reason", "'exit'" } });
    expectRoundTrip(*m_db,
        ThreadRow { .id = 7, .process_id = 2, .tid = 3, .name = "loader", .start_ts_ns = 4, .end_ts_ns = 5 },
        { { "id", "7" }, { "process_id", "2" }, { "tid", "3" }, { "name", "'loader'" }, { "start_ts_ns", "4" },
            { "end_ts_ns", "5" } });
    expectRoundTrip(*m_db,
        ModuleRow { .id = 7,
            .process_id = 2,
            .path = "/lib/libc.so.6",
            .build_id = "abcd",
            .load_bias = 3,
            .vaddr_start = 4,
            .vaddr_end = 5,
            .load_ts_ns = 6,
            .unload_ts_ns = 8 },
        { { "id", "7" }, { "process_id", "2" }, { "path", "'/lib/libc.so.6'" }, { "build_id", "'abcd'" },
            { "load_bias", "3" }, { "vaddr_start", "4" }, { "vaddr_end", "5" }, { "load_ts_ns", "6" },
            { "unload_ts_ns", "8" } });
    expectRoundTrip(*m_db, FrameRow { .id = 7, .module_id = 2, .ip = 3, .rel_pc = 4 },
        { { "id", "7" }, { "module_id", "2" }, { "ip", "3" }, { "rel_pc", "4" } });
    expectRoundTrip(*m_db, SymbolRow { .frame_id = 7, .inline_depth = 2, .function_id = 3, .file_id = 4, .line = 5 },
        { { "frame_id", "7" }, { "inline_depth", "2" }, { "function_id", "3" }, { "file_id", "4" }, { "line", "5" } },
        "frame_id = 7");
    expectRoundTrip(*m_db, CallsiteRow { .id = 7, .parent_id = 2, .frame_id = 3, .depth = 4 },
        { { "id", "7" }, { "parent_id", "2" }, { "frame_id", "3" }, { "depth", "4" } });
    expectRoundTrip(*m_db,
        SpaceRow { .id = 7, .kind = "pool", .device = 2, .name = "pool:cuda:2", .capacity_bytes = 3, .parent_space_id = 4 },
        { { "id", "7" }, { "kind", "'pool'" }, { "device", "2" }, { "name", "'pool:cuda:2'" }, { "capacity_bytes", "3" },
            { "parent_space_id", "4" } });
    expectRoundTrip(*m_db, MarkRow { .id = 7, .process_id = 2, .thread_id = 3, .ts_ns = 4, .domain_id = 5, .name_id = 6 },
        { { "id", "7" }, { "process_id", "2" }, { "thread_id", "3" }, { "ts_ns", "4" }, { "domain_id", "5" },
            { "name_id", "6" } });
    expectRoundTrip(*m_db,
        CaptureStatRow { .process_id = 7, .source = "preload", .name = "dropped", .value = 2, .detail = "ring full" },
        { { "process_id", "7" }, { "source", "'preload'" }, { "name", "'dropped'" }, { "value", "2" },
            { "detail", "'ring full'" } },
        "process_id = 7");
}

TEST_F(RowsTest, ALaterCaptureStatReplacesTheEarlierOfItsKey)
{
    ASSERT_TRUE(insertRow(*m_db, CaptureStatRow { .process_id = 1, .source = "collector", .name = "files", .value = 1 }));
    ASSERT_TRUE(insertRow(*m_db, CaptureStatRow { .process_id = 1, .source = "collector", .name = "files", .value = 3 }));
    auto rows = m_db->queryInt("SELECT count(*) FROM capture_stats WHERE name = 'files'");
    auto value = m_db->queryInt("SELECT value FROM capture_stats WHERE name = 'files'");
    ASSERT_TRUE(rows && value);
    EXPECT_EQ(*rows, 1);
    EXPECT_EQ(*value, 3);
}

TEST_F(RowsTest, EveryFieldOfTheSmallerTablesLandsInItsColumn)
{
    expectRoundTrip(*m_db,
        HeapRow { .id = 7,
            .space_id = 2,
            .process_id = 3,
            .address = 4,
            .size_bytes = 5,
            .usage = "torch_segment",
            .name_id = 6,
            .register_ts_ns = 8,
            .unregister_ts_ns = 9,
            .callsite_id = 10,
            .range_id = 11 },
        { { "id", "7" }, { "space_id", "2" }, { "process_id", "3" }, { "address", "4" }, { "size_bytes", "5" },
            { "usage", "'torch_segment'" }, { "name_id", "6" }, { "register_ts_ns", "8" }, { "unregister_ts_ns", "9" },
            { "callsite_id", "10" }, { "range_id", "11" } });
    expectRoundTrip(*m_db,
        RangeRow { .id = 7,
            .process_id = 2,
            .thread_id = 3,
            .parent_id = 4,
            .depth = 5,
            .kind = "push",
            .domain_id = 6,
            .name_id = 8,
            .category = 9,
            .color = 10,
            .start_ts_ns = 11,
            .end_ts_ns = 12 },
        { { "id", "7" }, { "process_id", "2" }, { "thread_id", "3" }, { "parent_id", "4" }, { "depth", "5" },
            { "kind", "'push'" }, { "domain_id", "6" }, { "name_id", "8" }, { "category", "9" }, { "color", "10" },
            { "start_ts_ns", "11" }, { "end_ts_ns", "12" } });
    expectRoundTrip(*m_db,
        FailedAllocationRow { .id = 7,
            .space_id = 2,
            .process_id = 3,
            .thread_id = 4,
            .api = Api::CudaMalloc,
            .size_bytes = 5,
            .ts_ns = 6,
            .callsite_id = 8,
            .range_id = 9,
            .stream = 10,
            .error_code = 11,
            .error_name = "cudaErrorMemoryAllocation",
            .device_free_bytes = 12,
            .device_total_bytes = 13,
            .live_bytes = 14,
            .source_mask = 15 },
        { { "id", "7" }, { "space_id", "2" }, { "process_id", "3" }, { "thread_id", "4" },
            { "api", std::to_string(static_cast<int>(Api::CudaMalloc)) }, { "size_bytes", "5" }, { "ts_ns", "6" },
            { "callsite_id", "8" }, { "range_id", "9" }, { "stream", "10" }, { "error_code", "11" },
            { "error_name", "'cudaErrorMemoryAllocation'" }, { "device_free_bytes", "12" },
            { "device_total_bytes", "13" }, { "live_bytes", "14" }, { "source_mask", "15" } });
}

TEST_F(RowsTest, EveryFieldOfTheActivityAndSampleRowsLandsInItsColumn)
{
    expectRoundTrip(*m_db,
        KernelRow { .id = 7,
            .process_id = 1,
            .device = 2,
            .context = 3,
            .stream = 4,
            .start_ts_ns = 5,
            .end_ts_ns = 6,
            .name_id = 8,
            .correlation_id = 9,
            .grid_x = 10,
            .grid_y = 11,
            .grid_z = 12,
            .block_x = 13,
            .block_y = 14,
            .block_z = 15,
            .registers_per_thread = 16,
            .static_shared_bytes = 17,
            .dynamic_shared_bytes = 18,
            .source_mask = 19 },
        { { "process_id", "1" }, { "device", "2" }, { "context", "3" }, { "stream", "4" }, { "start_ts_ns", "5" },
            { "end_ts_ns", "6" }, { "name_id", "8" }, { "correlation_id", "9" }, { "grid_x", "10" }, { "grid_y", "11" },
            { "grid_z", "12" }, { "block_x", "13" }, { "block_y", "14" }, { "block_z", "15" },
            { "registers_per_thread", "16" }, { "static_shared_bytes", "17" }, { "dynamic_shared_bytes", "18" },
            { "source_mask", "19" } });
    expectRoundTrip(*m_db,
        MemcpyRow { .id = 7,
            .process_id = 1,
            .device = 2,
            .context = 3,
            .stream = 4,
            .start_ts_ns = 5,
            .end_ts_ns = 6,
            .size_bytes = 8,
            .copy_kind = "HtoD",
            .correlation_id = 9,
            .source_mask = 10 },
        { { "process_id", "1" }, { "device", "2" }, { "context", "3" }, { "stream", "4" }, { "start_ts_ns", "5" },
            { "end_ts_ns", "6" }, { "size_bytes", "8" }, { "copy_kind", "'HtoD'" }, { "correlation_id", "9" },
            { "source_mask", "10" } });
    expectRoundTrip(*m_db,
        MemsetRow { .id = 7,
            .process_id = 1,
            .device = 2,
            .context = 3,
            .stream = 4,
            .start_ts_ns = 5,
            .end_ts_ns = 6,
            .size_bytes = 8,
            .value = 9,
            .correlation_id = 10,
            .source_mask = 11 },
        { { "process_id", "1" }, { "device", "2" }, { "context", "3" }, { "stream", "4" }, { "start_ts_ns", "5" },
            { "end_ts_ns", "6" }, { "size_bytes", "8" }, { "value", "9" }, { "correlation_id", "10" },
            { "source_mask", "11" } });
    expectRoundTrip(*m_db,
        SampleRow { .id = 7,
            .process_id = 1,
            .space_id = 2,
            .ts_ns = 3,
            .free_bytes = 4,
            .total_bytes = 5,
            .used_bytes = 6,
            .reserved_bytes = 8 },
        { { "process_id", "1" }, { "space_id", "2" }, { "ts_ns", "3" }, { "free_bytes", "4" }, { "total_bytes", "5" },
            { "used_bytes", "6" }, { "reserved_bytes", "8" } });
}

TEST_F(RowsTest, AnUnsetIdTakesTheNextOne)
{
    auto st = m_db->prepare(insertSql<RangeRow>());
    ASSERT_TRUE(st);
    for (int i = 0; i < 2; ++i) {
        bindRow(*st, RangeRow { .process_id = 1, .start_ts_ns = 100 + i });
        ASSERT_TRUE(st->run());
    }
    EXPECT_EQ(*m_db->queryInt("SELECT group_concat(id) = '1,2' FROM (SELECT id FROM ranges ORDER BY id)"), 1);
    EXPECT_EQ(*m_db->queryInt("SELECT count(*) FROM ranges WHERE kind = 'import' AND end_ts_ns IS NULL"), 2);
}
