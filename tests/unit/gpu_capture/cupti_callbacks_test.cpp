// The CUPTI callback handler driven with callback data built from the toolkit's real
// CUpti_CallbackData and generated_cuda*_meta.h params structs, in the ENTER/EXIT order CUPTI uses,
// including a driver call nested in a runtime call. (No GPU: CUPTI itself never calls us here.)
#include "test_emit.h"

#include "interposer/cupti_internal.h"
#include "interposer/emit.h"

#include <cuda_runtime_api.h>

#include <gtest/gtest.h>

#include <cstring>

using namespace tidemark;
using namespace tidemark::interposer;
namespace te = tidemark::testemit;

namespace {

uint32_t fakeDevice(CUcontext context)
{
    return static_cast<uint32_t>(reinterpret_cast<uintptr_t>(context));
}
CUcontext contextOfDevice(uintptr_t device)
{
    return reinterpret_cast<CUcontext>(device);
}

// Delivers ENTER, then runs `inside` (the API's own work), then EXIT with the given result.
template <typename Params, typename Inside>
void call(CUpti_CallbackDomain domain, CUpti_CallbackId cbid, const char* name, Params& p, int32_t result,
    CUcontext context, Inside inside)
{
    CUpti_CallbackData cb {};
    cb.functionName = name;
    cb.functionParams = &p;
    cb.functionReturnValue = &result;
    cb.context = context;
    cb.callbackSite = CUPTI_API_ENTER;
    cupti::onCallback(nullptr, domain, cbid, &cb);
    inside();
    cb.callbackSite = CUPTI_API_EXIT;
    cupti::onCallback(nullptr, domain, cbid, &cb);
}

template <typename Params>
void call(
    CUpti_CallbackDomain domain, CUpti_CallbackId cbid, const char* name, Params& p, int32_t result, CUcontext ctx)
{
    call(domain, cbid, name, p, result, ctx, [] {});
}

class CuptiCallbacks : public ::testing::Test {
protected:
    void SetUp() override
    {
        cupti::setDeviceLookup(&fakeDevice);
        te::clear();
        setCurrentRangeId(0);
    }
    void TearDown() override { cupti::setDeviceLookup(nullptr); }
};

TEST_F(CuptiCallbacks, RuntimeMallocWithNestedDriverCallIsOneRecord)
{
    setCurrentRangeId(41); // as if an NVTX range "forward" were open on this thread
    void* dev = reinterpret_cast<void*>(0x7f0000100000);
    void* out = nullptr;
    cudaMalloc_v3020_params p { &out, 1 << 20 };
    call(CUPTI_CB_DOMAIN_RUNTIME_API, CUPTI_RUNTIME_TRACE_CBID_cudaMalloc_v3020, "cudaMalloc", p, cudaSuccess,
        contextOfDevice(1), [&] {
            CUdeviceptr dptr = 0;
            cuMemAlloc_v2_params d { &dptr, 1 << 20 };
            call(CUPTI_CB_DOMAIN_DRIVER_API, CUPTI_DRIVER_TRACE_CBID_cuMemAlloc_v2, "cuMemAlloc_v2", d, CUDA_SUCCESS,
                contextOfDevice(1), [&] { dptr = reinterpret_cast<CUdeviceptr>(dev); });
            out = dev;
        });
    auto allocs = te::recordsOfKind(wire::Kind::Alloc);
    ASSERT_EQ(allocs.size(), 1u) << "the nested cuMemAlloc is the same allocation";
    auto a = allocs[0].as<wire::AllocRecord>();
    EXPECT_EQ(a.api, static_cast<uint16_t>(Api::CudaMalloc));
    EXPECT_EQ(a.address, reinterpret_cast<uint64_t>(dev));
    EXPECT_EQ(a.size, 1u << 20);
    EXPECT_EQ(a.device, 1);
    EXPECT_EQ(a.space_kind, static_cast<uint8_t>(SpaceKind::Device));
    EXPECT_EQ(a.source, kSourceCuptiCallback);
    EXPECT_EQ(a.range_id, 41u);
    EXPECT_FALSE(te::stackFrames(a.stack_id).empty());
    EXPECT_TRUE(te::maxGuardDepth() >= 1) << "the handler runs inside a ReentryGuard";
}

TEST_F(CuptiCallbacks, DriverCallsOutsideTheRuntimeAreRecorded)
{
    CUdeviceptr dptr = 0;
    CUstream stream = reinterpret_cast<CUstream>(0x5555);
    cuMemAllocAsync_params p { &dptr, 4096, stream };
    call(CUPTI_CB_DOMAIN_DRIVER_API, CUPTI_DRIVER_TRACE_CBID_cuMemAllocAsync, "cuMemAllocAsync", p, CUDA_SUCCESS,
        contextOfDevice(0), [&] { dptr = 0x7f0000200000; });
    cuMemFreeAsync_params f { dptr, stream };
    call(CUPTI_CB_DOMAIN_DRIVER_API, CUPTI_DRIVER_TRACE_CBID_cuMemFreeAsync, "cuMemFreeAsync", f, CUDA_SUCCESS,
        contextOfDevice(0));

    // Expandable segments: physical memory by handle, on the device its properties name.
    CUmemGenericAllocationHandle h = 0;
    CUmemAllocationProp prop {};
    prop.type = CU_MEM_ALLOCATION_TYPE_PINNED;
    prop.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
    prop.location.id = 1;
    cuMemCreate_params c { &h, 2 << 20, &prop, 0 };
    call(CUPTI_CB_DOMAIN_DRIVER_API, CUPTI_DRIVER_TRACE_CBID_cuMemCreate, "cuMemCreate", c, CUDA_SUCCESS,
        contextOfDevice(0), [&] { h = 0xABC; });
    cuMemMap_params m { 0x7f0000400000, 2 << 20, 0, h, 0 };
    call(CUPTI_CB_DOMAIN_DRIVER_API, CUPTI_DRIVER_TRACE_CBID_cuMemMap, "cuMemMap", m, CUDA_SUCCESS, contextOfDevice(0));

    auto allocs = te::recordsOfKind(wire::Kind::Alloc);
    ASSERT_EQ(allocs.size(), 2u) << "cuMemMap is counted, not recorded (its bytes are the cuMemCreate's)";
    auto a = allocs[0].as<wire::AllocRecord>();
    EXPECT_EQ(a.api, static_cast<uint16_t>(Api::CuMemAllocAsync));
    EXPECT_EQ(a.stream, 0x5555u);
    EXPECT_EQ(a.address, 0x7f0000200000u);
    auto phys = allocs[1].as<wire::AllocRecord>();
    EXPECT_EQ(phys.api, static_cast<uint16_t>(Api::CuMemCreate));
    EXPECT_EQ(phys.address, 0xABCu);
    EXPECT_EQ(phys.size, 2u << 20);
    EXPECT_EQ(phys.device, 1) << "from CUmemAllocationProp, not the current context";
    auto frees = te::recordsOfKind(wire::Kind::Free);
    ASSERT_EQ(frees.size(), 1u);
    EXPECT_EQ(frees[0].as<wire::FreeRecord>().address, 0x7f0000200000u);
    EXPECT_EQ(frees[0].as<wire::FreeRecord>().api, static_cast<uint16_t>(Api::CuMemFreeAsync));
}

TEST_F(CuptiCallbacks, FreeKeepsTheSpaceOfItsAllocation)
{
    void* out = nullptr;
    cudaMallocManaged_v6000_params p { &out, 8192, 1 };
    call(CUPTI_CB_DOMAIN_RUNTIME_API, CUPTI_RUNTIME_TRACE_CBID_cudaMallocManaged_v6000, "cudaMallocManaged", p,
        cudaSuccess, contextOfDevice(1), [&] { out = reinterpret_cast<void*>(0x7e0000000000); });
    cudaFree_v3020_params f { out };
    call(CUPTI_CB_DOMAIN_RUNTIME_API, CUPTI_RUNTIME_TRACE_CBID_cudaFree_v3020, "cudaFree", f, cudaSuccess,
        contextOfDevice(1));
    auto frees = te::recordsOfKind(wire::Kind::Free);
    ASSERT_EQ(frees.size(), 1u);
    EXPECT_EQ(frees[0].as<wire::FreeRecord>().space_kind, static_cast<uint8_t>(SpaceKind::Managed))
        << "cudaFree of managed memory is a managed free";
}

TEST_F(CuptiCallbacks, FailedAllocationIsRecordedWithItsError)
{
    setCurrentRangeId(77);
    void* out = nullptr;
    cudaMalloc_v3020_params p { &out, size_t(40) << 30 };
    call(CUPTI_CB_DOMAIN_RUNTIME_API, CUPTI_RUNTIME_TRACE_CBID_cudaMalloc_v3020, "cudaMalloc", p,
        cudaErrorMemoryAllocation, contextOfDevice(0));
    EXPECT_TRUE(te::recordsOfKind(wire::Kind::Alloc).empty());
    auto failed = te::recordsOfKind(wire::Kind::AllocFailed);
    ASSERT_EQ(failed.size(), 1u);
    auto f = failed[0].as<wire::AllocFailedRecord>();
    EXPECT_EQ(f.size, size_t(40) << 30);
    EXPECT_EQ(f.error_code, cudaErrorMemoryAllocation);
    EXPECT_EQ(f.range_id, 77u);
    EXPECT_EQ(f.source, kSourceCuptiCallback);
    EXPECT_EQ(f.device_free_bytes, UINT64_MAX) << "unknown: no CUDA calls from inside a callback";
}

TEST_F(CuptiCallbacks, CoverageNamesEachApiSeen)
{
    void* out = nullptr;
    cudaMallocHost_v3020_params p { &out, 64 };
    call(CUPTI_CB_DOMAIN_RUNTIME_API, CUPTI_RUNTIME_TRACE_CBID_cudaMallocHost_v3020, "cudaMallocHost_v3020", p,
        cudaSuccess, contextOfDevice(0), [&] { out = reinterpret_cast<void*>(0x600000); });
    cupti::reportCallbackCounts();
    uint64_t calls = 0;
    EXPECT_TRUE(te::findStat("cupti.callback.cudaMallocHost_v3020", &calls, nullptr));
    EXPECT_GE(calls, 1u);
    EXPECT_EQ(te::recordsOfKind(wire::Kind::Alloc)[0].as<wire::AllocRecord>().space_kind,
        static_cast<uint8_t>(SpaceKind::Pinned));
}

} // namespace
