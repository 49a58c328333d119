// BulkInsert: rows written through the virtual-table feed arrive exactly as given (values, NULLs,
// order), over several batches, inside the caller's transaction; misuse is an error, not a crash.
#include "trace/bulk_insert.h"

#include <gtest/gtest.h>

#include <array>
#include <filesystem>
#include <random>
#include <unistd.h>

namespace tidemark::trace {
namespace {

class BulkInsertTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        m_path = (std::filesystem::temp_directory_path() / ("bulk_insert_" + std::to_string(::getpid()) + ".db")).string();
        std::filesystem::remove(m_path);
        auto db = Db::open(m_path, Db::Mode::Create);
        ASSERT_TRUE(db) << db.error().message;
        m_db = std::move(*db);
        ASSERT_TRUE(m_db.exec("CREATE TABLE t(id INTEGER PRIMARY KEY, a INTEGER NOT NULL, b INTEGER, c INTEGER)"));
    }
    void TearDown() override
    {
        m_db = Db();
        std::filesystem::remove(m_path);
    }
    std::string m_path;
    Db m_db;
};

TEST_F(BulkInsertTest, RowsArriveExactlyAsGivenOverSeveralBatches)
{
    auto bulk = BulkInsert::create(m_db, "t", { "a", "b", "c" });
    ASSERT_TRUE(bulk) << bulk.error().message;
    std::mt19937_64 rng(7);
    struct Row {
        int64_t a;
        std::optional<int64_t> b, c;
    };
    std::vector<Row> rows;
    ASSERT_TRUE(m_db.exec("BEGIN"));
    for (int i = 0; i < 10007; ++i) {
        Row r { static_cast<int64_t>(rng()), std::nullopt, std::nullopt };
        if (rng() % 3)
            r.b = static_cast<int64_t>(rng() % 1000) - 500;
        if (rng() % 2)
            r.c = INT64_MIN + static_cast<int64_t>(rng() % 5);
        rows.push_back(r);
        bulk->beginRow();
        bulk->value(r.a);
        bulk->value(r.b);
        bulk->value(r.c);
        if (bulk->pendingRows() == 4096) {
            ASSERT_TRUE(bulk->flush());
        }
    }
    EXPECT_EQ(bulk->pendingRows(), 10007u % 4096u);
    ASSERT_TRUE(bulk->flush());
    EXPECT_EQ(bulk->pendingRows(), 0u);
    ASSERT_TRUE(m_db.exec("COMMIT"));
    EXPECT_EQ(m_db.lastInsertId(), 10007);

    auto st = m_db.prepare("SELECT id, a, b, c FROM t ORDER BY id");
    ASSERT_TRUE(st);
    size_t n = 0;
    while (st->step()) {
        ASSERT_LT(n, rows.size());
        const Row& r = rows[n];
        EXPECT_EQ(st->int64(0), static_cast<int64_t>(n + 1));
        EXPECT_EQ(st->int64(1), r.a);
        EXPECT_EQ(st->isNull(2), !r.b);
        if (r.b) {
            EXPECT_EQ(st->int64(2), *r.b);
        }
        EXPECT_EQ(st->isNull(3), !r.c);
        if (r.c) {
            EXPECT_EQ(st->int64(3), *r.c);
        }
        ++n;
    }
    EXPECT_EQ(n, rows.size());
}

// A column that holds one value in a whole batch is bound rather than fed (or left out when NULL):
// every mix of such columns, NULL or not, more mixes than statements kept, and look-alikes (0 beside
// NULL, one odd last row) that must still be fed row by row.
TEST_F(BulkInsertTest, ColumnsWithOneValueInABatchArriveExactlyAsGiven)
{
    constexpr int kColumns = 6; // 2^6 mixes, more than BulkInsert::kMaxStatements
    // f has a default that is not NULL: a NULL in every row of a batch must still be stored as NULL.
    ASSERT_TRUE(m_db.exec("CREATE TABLE w(id INTEGER PRIMARY KEY, a INTEGER NOT NULL, b, c, d, e, f DEFAULT 7)"));
    auto bulk = BulkInsert::create(m_db, "w", { "a", "b", "c", "d", "e", "f" });
    ASSERT_TRUE(bulk) << bulk.error().message;
    std::mt19937_64 rng(11);
    enum Mode { Same, SameNull, Varying, ZeroOrNull, OddLast, kModes };
    std::vector<std::array<std::optional<int64_t>, kColumns>> rows;
    ASSERT_TRUE(m_db.exec("BEGIN"));
    for (int batch = 0; batch < 400; ++batch) {
        int modes[kColumns];
        for (int& m : modes)
            m = static_cast<int>(rng() % kModes);
        if (modes[0] == SameNull || modes[0] == ZeroOrNull) // a is NOT NULL
            modes[0] = Same;
        const int n = batch % 7 == 0 ? 1 + static_cast<int>(rng() % 15) : 16 + static_cast<int>(rng() % 200);
        const int64_t same = static_cast<int64_t>(rng());
        for (int r = 0; r < n; ++r) {
            std::array<std::optional<int64_t>, kColumns> row;
            for (int c = 0; c < kColumns; ++c) {
                switch (modes[c]) {
                case Same: row[c] = same + c; break;
                case SameNull: break;
                case Varying: row[c] = static_cast<int64_t>(rng()); break;
                case ZeroOrNull:
                    if (r % 2)
                        row[c] = 0;
                    break;
                case OddLast: row[c] = r + 1 == n ? same - 1 : same; break;
                }
            }
            rows.push_back(row);
            bulk->beginRow();
            for (const auto& v : row)
                bulk->value(v);
        }
        ASSERT_TRUE(bulk->flush());
    }
    ASSERT_TRUE(m_db.exec("COMMIT"));

    auto st = m_db.prepare("SELECT a, b, c, d, e, f FROM w ORDER BY id");
    ASSERT_TRUE(st);
    size_t n = 0;
    while (st->step()) {
        ASSERT_LT(n, rows.size());
        for (int c = 0; c < kColumns; ++c) {
            ASSERT_EQ(st->isNull(c), !rows[n][c]) << "row " << n << " column " << c;
            if (rows[n][c]) {
                ASSERT_EQ(st->int64(c), *rows[n][c]) << "row " << n << " column " << c;
            }
        }
        ++n;
    }
    EXPECT_EQ(n, rows.size());
}

TEST_F(BulkInsertTest, RolledBackWithTheCallersTransaction)
{
    auto bulk = BulkInsert::create(m_db, "t", { "a" });
    ASSERT_TRUE(bulk);
    ASSERT_TRUE(m_db.exec("BEGIN"));
    bulk->beginRow();
    bulk->value(int64_t { 1 });
    ASSERT_TRUE(bulk->flush());
    ASSERT_TRUE(m_db.exec("ROLLBACK"));
    EXPECT_EQ(*m_db.queryInt("SELECT count(*) FROM t"), 0);
}

TEST_F(BulkInsertTest, ConstraintViolationAndMisuseAreErrors)
{
    auto bulk = BulkInsert::create(m_db, "t", { "a", "b" });
    ASSERT_TRUE(bulk);
    bulk->beginRow();
    bulk->null(); // a is NOT NULL
    bulk->value(int64_t { 2 });
    EXPECT_FALSE(bulk->flush());
    EXPECT_EQ(*m_db.queryInt("SELECT count(*) FROM t"), 0);

    bulk->beginRow();
    bulk->value(int64_t { 1 }); // one value short
    auto s = bulk->flush();
    ASSERT_FALSE(s);
    EXPECT_NE(s.error().message.find("2 columns"), std::string::npos) << s.error().message;

    EXPECT_FALSE(BulkInsert::create(m_db, "no_such_table", { "a" }));
    EXPECT_FALSE(BulkInsert::create(m_db, "t", {}));
}

TEST_F(BulkInsertTest, TwoFeedsOnOneConnectionAndReRegistration)
{
    ASSERT_TRUE(m_db.exec("CREATE TABLE u(x INTEGER)"));
    {
        auto t = BulkInsert::create(m_db, "t", { "a" });
        auto u = BulkInsert::create(m_db, "u", { "x" });
        ASSERT_TRUE(t && u);
        t->beginRow();
        t->value(int64_t { 5 });
        u->beginRow();
        u->value(int64_t { 6 });
        u->beginRow();
        u->value(int64_t { 7 });
        ASSERT_TRUE(t->flush());
        ASSERT_TRUE(u->flush());
    }
    // The feed is dropped with its owner; a new one of the same table works.
    auto again = BulkInsert::create(m_db, "t", { "a" });
    ASSERT_TRUE(again) << again.error().message;
    again->beginRow();
    again->value(int64_t { 8 });
    ASSERT_TRUE(again->flush());
    EXPECT_EQ(*m_db.queryInt("SELECT sum(a) FROM t"), 13);
    EXPECT_EQ(*m_db.queryInt("SELECT sum(x) FROM u"), 13);
}

} // namespace
} // namespace tidemark::trace
