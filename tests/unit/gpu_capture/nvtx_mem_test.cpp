// The NVTX memory extension driven through the real nvtx3 headers: a heap (pool segment) with
// regions (sub-allocations) registered, resized, named and unregistered by pointer and by handle.
#include "test_emit.h"

#include "interposer/emit.h"

#include <nvtx3/nvToolsExt.h>
#include <nvtx3/nvToolsExtMem.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <vector>

using namespace tidemark;
namespace te = tidemark::testemit;

namespace {

template <typename T> std::vector<T> all(wire::Kind kind)
{
    std::vector<T> out;
    for (const auto& c : te::recordsOfKind(kind))
        out.push_back(c.as<T>());
    return out;
}

TEST(NvtxMem, HeapAndRegionLifecycle)
{
    unsetenv("NVTX_INJECTION64_PATH");
    te::clear();
    alignas(256) static char pool[4096];
    nvtxDomainHandle_t domain = nvtxDomainCreateA("my_allocator");
    nvtxRangePushA("forward");
    uint32_t phase = interposer::currentRangeId();

    nvtxMemVirtualRangeDesc_t heapRange { sizeof(pool), pool };
    nvtxMemHeapDesc_t heapDesc {};
    heapDesc.extCompatID = NVTX_EXT_COMPATID_MEM;
    heapDesc.structSize = sizeof(heapDesc);
    heapDesc.usage = NVTX_MEM_HEAP_USAGE_TYPE_SUB_ALLOCATOR;
    heapDesc.type = NVTX_MEM_TYPE_VIRTUAL_ADDRESS;
    heapDesc.typeSpecificDescSize = sizeof(heapRange);
    heapDesc.typeSpecificDesc = &heapRange;
    heapDesc.messageType = NVTX_MESSAGE_TYPE_ASCII;
    heapDesc.message.ascii = "segment-0";
    nvtxMemHeapHandle_t heap = nvtxMemHeapRegister(domain, &heapDesc);
    ASSERT_NE(heap, nullptr);

    nvtxMemVirtualRangeDesc_t regions[3] = { { 512, pool }, { 1024, pool + 512 }, { 256, pool + 2048 } };
    nvtxMemRegionHandle_t handles[3] {};
    nvtxMemRegionsRegisterBatch_t reg {};
    reg.extCompatID = NVTX_EXT_COMPATID_MEM;
    reg.structSize = sizeof(reg);
    reg.regionType = NVTX_MEM_TYPE_VIRTUAL_ADDRESS;
    reg.heap = heap;
    reg.regionCount = 3;
    reg.regionDescElementSize = sizeof(nvtxMemVirtualRangeDesc_t);
    reg.regionDescElements = regions;
    reg.regionHandleElementsOut = handles;
    nvtxMemRegionsRegister(domain, &reg);
    EXPECT_NE(handles[2], nullptr);

    nvtxMemVirtualRangeDesc_t grown { 2000, pool + 2048 };
    nvtxMemRegionsResizeBatch_t resize {};
    resize.extCompatID = NVTX_EXT_COMPATID_MEM;
    resize.structSize = sizeof(resize);
    resize.regionType = NVTX_MEM_TYPE_VIRTUAL_ADDRESS;
    resize.regionDescCount = 1;
    resize.regionDescElementSize = sizeof(grown);
    resize.regionDescElements = &grown;
    nvtxMemRegionsResize(domain, &resize);

    nvtxMemRegionNameDesc_t name {};
    name.regionRefType = NVTX_MEM_REGION_REF_TYPE_POINTER;
    name.nameType = NVTX_MESSAGE_TYPE_ASCII;
    name.region.pointer = pool + 512;
    name.name.ascii = "activations";
    nvtxMemRegionsNameBatch_t names {};
    names.extCompatID = NVTX_EXT_COMPATID_MEM;
    names.structSize = sizeof(names);
    names.regionCount = 1;
    names.regionElementSize = sizeof(name);
    names.regionElements = &name;
    nvtxMemRegionsName(domain, &names);

    nvtxMemRegionRef_t byPointer[1];
    byPointer[0].pointer = pool;
    nvtxMemRegionsUnregisterBatch_t unregPtr {};
    unregPtr.extCompatID = NVTX_EXT_COMPATID_MEM;
    unregPtr.structSize = sizeof(unregPtr);
    unregPtr.refType = NVTX_MEM_REGION_REF_TYPE_POINTER;
    unregPtr.refCount = 1;
    unregPtr.refElementSize = sizeof(nvtxMemRegionRef_t);
    unregPtr.refElements = byPointer;
    nvtxMemRegionsUnregister(domain, &unregPtr);
    nvtxMemRegionRef_t byHandle[1];
    byHandle[0].handle = handles[2];
    nvtxMemRegionsUnregisterBatch_t unregHandle = unregPtr;
    unregHandle.refType = NVTX_MEM_REGION_REF_TYPE_HANDLE;
    unregHandle.refElements = byHandle;
    nvtxMemRegionsUnregister(domain, &unregHandle);

    nvtxMemHeapReset(domain, heap);
    nvtxMemHeapUnregister(domain, heap);
    nvtxRangePop();

    auto heaps = all<wire::HeapRegisterRecord>(wire::Kind::HeapRegister);
    ASSERT_EQ(heaps.size(), 1u);
    EXPECT_EQ(heaps[0].address, reinterpret_cast<uint64_t>(pool));
    EXPECT_EQ(heaps[0].size, sizeof(pool));
    EXPECT_EQ(heaps[0].usage, NVTX_MEM_HEAP_USAGE_TYPE_SUB_ALLOCATOR);
    EXPECT_EQ(te::stringText(heaps[0].name_id), "segment-0");
    EXPECT_EQ(te::stringText(heaps[0].domain_id), "my_allocator");
    EXPECT_EQ(heaps[0].range_id, phase);
    EXPECT_FALSE(te::stackFrames(heaps[0].stack_id).empty());
    uint32_t heapId = heaps[0].heap_id;

    auto regs = all<wire::RegionRegisterRecord>(wire::Kind::RegionRegister);
    ASSERT_EQ(regs.size(), 3u);
    for (int i = 0; i < 3; ++i) {
        EXPECT_EQ(regs[i].heap_id, heapId);
        EXPECT_EQ(regs[i].address, reinterpret_cast<uint64_t>(regions[i].ptr));
        EXPECT_EQ(regs[i].size, regions[i].size);
        EXPECT_EQ(regs[i].range_id, phase);
    }
    auto resized = all<wire::RegionEventRecord>(wire::Kind::RegionResize);
    ASSERT_EQ(resized.size(), 1u);
    EXPECT_EQ(resized[0].address, reinterpret_cast<uint64_t>(pool + 2048));
    EXPECT_EQ(resized[0].size, 2000u);
    auto named = all<wire::RegionEventRecord>(wire::Kind::RegionName);
    ASSERT_EQ(named.size(), 1u);
    EXPECT_EQ(named[0].address, reinterpret_cast<uint64_t>(pool + 512));
    EXPECT_EQ(te::stringText(named[0].name_id), "activations");
    auto unreg = all<wire::RegionEventRecord>(wire::Kind::RegionUnregister);
    ASSERT_EQ(unreg.size(), 2u);
    EXPECT_EQ(unreg[0].address, reinterpret_cast<uint64_t>(pool));
    EXPECT_EQ(unreg[1].address, reinterpret_cast<uint64_t>(pool + 2048)) << "unregister by handle";
    auto resets = all<wire::HeapEventRecord>(wire::Kind::HeapReset);
    auto gone = all<wire::HeapEventRecord>(wire::Kind::HeapUnregister);
    ASSERT_EQ(resets.size(), 1u);
    ASSERT_EQ(gone.size(), 1u);
    EXPECT_EQ(resets[0].heap_id, heapId);
    EXPECT_EQ(gone[0].heap_id, heapId);
    uint64_t units = 0;
    EXPECT_TRUE(te::findStat("nvtx.mem_extension", &units, nullptr));
    EXPECT_GE(units, 1u);
}

TEST(NvtxMem, IncompatibleBatchesAreIgnored)
{
    te::clear();
    nvtxMemVirtualRangeDesc_t r { 64, reinterpret_cast<void*>(0x1000) };
    nvtxMemRegionsRegisterBatch_t reg {};
    reg.extCompatID = 0x9999; // not NVTX_EXT_COMPATID_MEM
    reg.structSize = sizeof(reg);
    reg.regionType = NVTX_MEM_TYPE_VIRTUAL_ADDRESS;
    reg.regionCount = 1;
    reg.regionDescElementSize = sizeof(r);
    reg.regionDescElements = &r;
    nvtxMemRegionsRegister(nullptr, &reg);
    EXPECT_TRUE(te::recordsOfKind(wire::Kind::RegionRegister).empty());
}

} // namespace
