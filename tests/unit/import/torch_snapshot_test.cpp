// PyTorch snapshot import: crafted fixtures with hand-derived lifetimes (pre-trace blocks and segments,
// expandable map/unmap, the PyTorch 2.0 bare list), and every real snapshot in realdata checked against
// the figures the snapshot states itself (segment totals, allocated sizes, event counts).
#include "analysis/import/pickle_reader.h"

#include "import_test_support.h"

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sstream>

using namespace tidemark;
using namespace tidemark::import;
using namespace tidemark::import::test;

namespace {

constexpr int64_t kMiB = 1 << 20;

std::string spaceFilter(const std::string& name)
{
    return "space_id = (SELECT id FROM spaces WHERE name = '" + name + "')";
}

int64_t liveBytes(trace::Db& db, const std::string& space)
{
    return queryInt(db, "SELECT coalesce(sum(size_bytes), 0) FROM allocations WHERE free_ts_ns IS NULL AND " + spaceFilter(space));
}

} // namespace

TEST(TorchSnapshotImport, TinySnapshotLifetimesFollowTheRules)
{
    trace::Db db = importAndOpen(fixture("tiny_snapshot.pickle"), "tiny.tmdb");
    ASSERT_NE(db.handle(), nullptr);
    EXPECT_EQ(*trace::getMeta(db, "source"), "import:torch-snapshot");
    EXPECT_NE(trace::getMeta(db, "torch.allocator_settings")->find("\"expandable_segments\":false"), std::string::npos);

    // Device space: S2 (trace), S3 (allocated and freed in the trace), S1 (never seen: from the start).
    EXPECT_EQ(queryInt(db, "SELECT count(*) FROM allocations WHERE " + spaceFilter("cuda:0")), 3);
    EXPECT_EQ(liveBytes(db, "cuda:0"), 6 * kMiB);
    EXPECT_EQ(queryInt(db, "SELECT alloc_ts_ns FROM allocations WHERE address = 16777216 AND " + spaceFilter("cuda:0")), 1000000);
    EXPECT_EQ(queryInt(db, "SELECT free_ts_ns FROM allocations WHERE address = 50331648 AND " + spaceFilter("cuda:0")), 1009000);

    // Heaps: two alive at the dump (6 MiB), one that ended at segment_free.
    EXPECT_EQ(queryInt(db, "SELECT count(*) FROM pool_heaps"), 3);
    EXPECT_EQ(queryInt(db, "SELECT sum(size_bytes) FROM pool_heaps WHERE unregister_ts_ns IS NULL"), 6 * kMiB);
    EXPECT_EQ(queryInt(db, "SELECT parent_space_id = (SELECT id FROM spaces WHERE name = 'cuda:0') FROM spaces WHERE name = 'pool:cuda:0'"), 1);

    // Blocks: five lifetimes, 1.5 MiB alive at the dump, every one inside a heap.
    EXPECT_EQ(queryInt(db, "SELECT count(*) FROM pool_regions"), 5);
    EXPECT_EQ(liveBytes(db, "pool:cuda:0"), kMiB + 512 * 1024);
    EXPECT_EQ(queryInt(db, "SELECT count(*) FROM allocations WHERE heap_id IS NULL AND " + spaceFilter("pool:cuda:0")), 0);
    // The pre-trace block freed at 1005 us starts at the trace's beginning, inside S1's heap.
    EXPECT_EQ(queryInt(db, "SELECT alloc_ts_ns FROM allocations WHERE address = 17825792"), 1000000);
    EXPECT_EQ(queryInt(db, "SELECT free_ts_ns FROM allocations WHERE address = 17825792"), 1005000);
    EXPECT_EQ(queryInt(db, "SELECT h.address FROM allocations a JOIN pool_heaps h ON h.id = a.heap_id WHERE a.address = 17825792"), 16777216);
    // The block in S3 belongs to S3's closed heap.
    EXPECT_EQ(queryInt(db, "SELECT h.unregister_ts_ns FROM allocations a JOIN pool_heaps h ON h.id = a.heap_id"
                           " WHERE a.address = 50331648 AND a.heap_id IS NOT NULL"), 1009000);
    // free_completed, not free_requested, ends a block.
    EXPECT_EQ(queryInt(db, "SELECT free_ts_ns FROM allocations WHERE address = 34078720"), 1004000);

    // The alloc's stack: leaf 'inner' under 'outer'.
    EXPECT_EQ(queryInt(db, "SELECT count(*) FROM allocations a JOIN callsites c ON c.id = a.callsite_id"
                           " JOIN symbols s ON s.frame_id = c.frame_id JOIN strings f ON f.id = s.function_id"
                           " JOIN callsites p ON p.id = c.parent_id JOIN symbols ps ON ps.frame_id = p.frame_id"
                           " JOIN strings pf ON pf.id = ps.function_id"
                           " WHERE a.address = 34078720 AND f.value = 'inner' AND pf.value = 'outer' AND c.depth = 1"), 1);
    EXPECT_EQ(queryInt(db, "SELECT count(*) FROM frames WHERE module_id IS NOT NULL"), 0);

    // OOM: 8 MiB asked, 1234 bytes free, 6 MiB reserved at that moment (S1 + S2).
    EXPECT_EQ(queryInt(db, "SELECT size_bytes FROM failed_allocations"), 8 * kMiB);
    EXPECT_EQ(queryInt(db, "SELECT device_free_bytes FROM failed_allocations"), 1234);
    EXPECT_EQ(queryInt(db, "SELECT live_bytes FROM failed_allocations"), 6 * kMiB);

    // The annotation is a range, and the block allocated inside it carries it.
    EXPECT_EQ(queryInt(db, "SELECT count(*) FROM ranges"), 1);
    EXPECT_EQ(queryInt(db, "SELECT a.range_id = r.id FROM allocations a, ranges r WHERE a.address = 33554432 AND "
                           + spaceFilter("pool:cuda:0")), 1);
    EXPECT_EQ(queryInt(db, "SELECT count(*) FROM allocations WHERE source_mask != 16"), 0);
}

TEST(TorchSnapshotImport, ExpandableSegmentMapAndPartialUnmap)
{
    trace::Db db = importAndOpen(fixture("expandable_snapshot.pickle"), "expandable.tmdb");
    ASSERT_NE(db.handle(), nullptr);
    EXPECT_EQ(queryInt(db, "SELECT count(*) FROM spaces WHERE name IN ('cuda:0', 'cuda:1')"), 0);
    // Mapped 2 + 4 MiB, then the upper 2 MiB of the second piece unmapped: 4 MiB at the end.
    EXPECT_EQ(queryInt(db, "SELECT count(*) FROM allocations WHERE " + spaceFilter("cuda:2")), 3);
    EXPECT_EQ(liveBytes(db, "cuda:2"), 4 * kMiB);
    EXPECT_EQ(queryInt(db, "SELECT count(*) FROM allocations WHERE free_ts_ns = 6000 AND size_bytes = 4194304"), 1);
    // One heap per constant mapped extent: 2 MiB [1, 3) us, 6 MiB [3, 6) us, then 4 MiB to the dump.
    EXPECT_EQ(queryInt(db, "SELECT count(*) FROM pool_heaps WHERE usage = 'torch_expandable_segment'"), 3);
    EXPECT_EQ(queryInt(db, "SELECT count(*) FROM pool_heaps WHERE size_bytes = 2097152 AND register_ts_ns = 1000 AND unregister_ts_ns = 3000"), 1);
    EXPECT_EQ(queryInt(db, "SELECT count(*) FROM pool_heaps WHERE size_bytes = 6291456 AND register_ts_ns = 3000 AND unregister_ts_ns = 6000"), 1);
    EXPECT_EQ(queryInt(db, "SELECT size_bytes FROM pool_heaps WHERE unregister_ts_ns IS NULL AND register_ts_ns = 6000"), 4 * kMiB);
    // The freed 4 MiB block sat in the 6 MiB extent; the live one is in the final extent.
    EXPECT_EQ(queryInt(db, "SELECT h.size_bytes FROM pool_regions a JOIN pool_heaps h ON h.id = a.heap_id WHERE a.address = 270532608"), 6 * kMiB);
    EXPECT_EQ(queryInt(db, "SELECT h.size_bytes FROM pool_regions a JOIN pool_heaps h ON h.id = a.heap_id WHERE a.address = 268435456"), 4 * kMiB);
    EXPECT_EQ(queryInt(db, "SELECT count(*) FROM pool_regions"), 2);
    EXPECT_EQ(liveBytes(db, "pool:cuda:2"), 2 * kMiB);
}

TEST(TorchSnapshotImport, OldBareSegmentListWithoutAddresses)
{
    trace::Db db = importAndOpen(fixture("old_segment_list.pickle"), "oldlist.tmdb");
    ASSERT_NE(db.handle(), nullptr);
    EXPECT_NE(trace::getMeta(db, "description")->find("bare segment list"), std::string::npos);
    EXPECT_NE(trace::getMeta(db, "clock")->find("sequence"), std::string::npos);
    // Blocks tile the segment: the active ones are at +0 and +2 MiB.
    EXPECT_EQ(queryInt(db, "SELECT count(*) FROM pool_regions WHERE address IN (83886080, 85983232)"), 2);
    EXPECT_EQ(liveBytes(db, "cuda:1"), 3 * kMiB);
    EXPECT_EQ(queryInt(db, "SELECT count(*) FROM allocations a JOIN callsites c ON c.id = a.callsite_id"
                           " JOIN symbols s ON s.frame_id = c.frame_id JOIN strings f ON f.id = s.function_id"
                           " WHERE a.address = 83886080 AND f.value = 'a'"), 1);
}

namespace {

struct SnapshotFigures {
    std::map<int64_t, int64_t> totalByDevice, allocatedByDevice;
    std::map<int64_t, int64_t> frees; // free_completed events per device
    int64_t ooms = 0;
};

// The snapshot's own figures, read straight from the pickle (not through the importer's model).
SnapshotFigures figuresOf(const std::string& path)
{
    auto doc = parsePickle(readAll(path));
    EXPECT_TRUE(doc.ok());
    SnapshotFigures f;
    if (!doc.ok())
        return f;
    PickleRef root = doc->root();
    PickleRef segs = root.isList() ? root : root["segments"];
    for (size_t i = 0; i < segs.size(); ++i) {
        PickleRef s = segs.at(i);
        f.totalByDevice[s["device"].asInt()] += s["total_size"].asInt();
        f.allocatedByDevice[s["device"].asInt()] += s["allocated_size"].asInt();
    }
    PickleRef traces = root["device_traces"];
    for (size_t d = 0; d < traces.size(); ++d)
        for (size_t i = 0; i < traces.at(d).size(); ++i) {
            auto action = traces.at(d).at(i)["action"].asString();
            f.frees[static_cast<int64_t>(d)] += action == "free_completed";
            f.ooms += action == "oom";
        }
    return f;
}

void checkRealSnapshot(const std::string& path, const std::string& outName)
{
    SnapshotFigures fig = figuresOf(path);
    ASSERT_FALSE(fig.totalByDevice.empty());
    trace::Db db = importAndOpen(path, outName);
    ASSERT_NE(db.handle(), nullptr);
    for (const auto& [dev, total] : fig.totalByDevice) {
        std::string d = std::to_string(dev);
        SCOPED_TRACE(path + " device " + d);
        EXPECT_EQ(liveBytes(db, "cuda:" + d), total) << "reserved at the dump";
        EXPECT_EQ(queryInt(db, "SELECT coalesce(sum(size_bytes), 0) FROM pool_heaps WHERE unregister_ts_ns IS NULL AND "
                      + spaceFilter("pool:cuda:" + d)),
            total)
            << "heaps at the dump";
        EXPECT_EQ(liveBytes(db, "pool:cuda:" + d), fig.allocatedByDevice[dev]) << "allocated at the dump";
        EXPECT_EQ(queryInt(db, "SELECT count(*) FROM allocations WHERE free_ts_ns IS NOT NULL AND " + spaceFilter("pool:cuda:" + d)),
            fig.frees[dev])
            << "each free_completed ends exactly one block";
        EXPECT_EQ(queryInt(db, "SELECT count(*) FROM allocations WHERE heap_id IS NULL AND " + spaceFilter("pool:cuda:" + d)), 0);
        // Every block lies inside its heap, and their lifetimes overlap.
        EXPECT_EQ(queryInt(db, "SELECT count(*) FROM allocations a JOIN pool_heaps h ON h.id = a.heap_id"
                               " WHERE a.address < h.address OR a.address + a.size_bytes > h.address + h.size_bytes"
                               " OR a.free_ts_ns < h.register_ts_ns OR a.alloc_ts_ns > h.unregister_ts_ns"),
            0);
    }
    EXPECT_EQ(queryInt(db, "SELECT count(*) FROM failed_allocations"), fig.ooms);
    // The recorder's and the allocator's own innermost frames are not call sites.
    EXPECT_EQ(queryInt(db, "SELECT count(*) FROM allocations a JOIN callsites c ON c.id = a.callsite_id JOIN symbols s"
                           " ON s.frame_id = c.frame_id JOIN strings f ON f.id = s.function_id"
                           " WHERE f.value LIKE 'torch::unwind::%' OR f.value LIKE 'c10::cuda::CUDACachingAllocator::%'"),
        0);
    EXPECT_EQ(queryInt(db, "SELECT count(*) FROM allocations WHERE free_ts_ns < alloc_ts_ns"), 0);
}

} // namespace

TEST(TorchSnapshotRealData, EverySnapshotAgreesWithItsOwnTotals)
{
    const char* files[] = {
        "torch_snapshot/silmont2000_assignment2-systems__mem_snapshot_small.pickle",
        "torch_snapshot/bcrafton_assignment2-systems__transformer_train_step_compiled.pickle",
        "torch_snapshot/constructor-sun_code_location__qwen3_dp3gpu_oom_expandable.pickle",
        "torch_snapshot/zidongliu_decomfl__opt_fl_zeroth_order_windows.pickle",
        "torch_snapshot/jaspersolt_eor_nn__cnn_counterfactuals.pickle",
        "torch_snapshot/wedsonlin_assignment2-systems__medium_128_inference.pickle",
        "torch_snapshot/yiyi-philosophy_llm-inference__oom_snapshot_torch20.pickle",
        "torch_snapshot/muduard_layoutediting__memory_snapshot_segment_list_dev1.pkl",
    };
    TIDEMARK_REQUIRE_REALDATA(first, files[0]);
    int n = 0;
    for (const char* f : files) {
        std::string path = realdata(f);
        ASSERT_FALSE(path.empty()) << f;
        checkRealSnapshot(path, "real" + std::to_string(n++) + ".tmdb");
    }
}

TEST(TorchSnapshotRealData, QwenOomOnDeviceOneKeepsTheAllocatorsFigures)
{
    TIDEMARK_REQUIRE_REALDATA(path, "torch_snapshot/constructor-sun_code_location__qwen3_dp3gpu_oom_expandable.pickle");
    trace::Db db = importAndOpen(path, "qwen.tmdb");
    ASSERT_NE(db.handle(), nullptr);
    EXPECT_EQ(queryInt(db, "SELECT count(*) FROM failed_allocations WHERE " + spaceFilter("cuda:1")), 1);
    EXPECT_EQ(queryInt(db, "SELECT size_bytes FROM failed_allocations"), 5308694528);
    EXPECT_EQ(queryInt(db, "SELECT device_free_bytes FROM failed_allocations"), 95682560);
    EXPECT_EQ(queryInt(db, "SELECT count(*) FROM spaces WHERE kind = 'pool'"), 3);
    EXPECT_EQ(queryInt(db, "SELECT count(*) FROM pool_heaps WHERE usage = 'torch_expandable_segment' AND unregister_ts_ns IS NULL"), 12);
    EXPECT_EQ(queryInt(db, "SELECT count(*) FROM ranges"), 2); // 4 annotations = 2 START/END pairs
    EXPECT_NE(trace::getMeta(db, "torch.allocator_settings")->find("expandable_segments:True"), std::string::npos);
}
