// Internals of the CUPTI companion (libtidemark_cupti.so): activity buffer processing, the API
// callback handler and the session that wires them to CUPTI. Split so tests can drive the buffer
// processing and the callback handler with records built from the toolkit's real structs.
#pragma once

#include "trace/enums.h"

#include <cupti.h>

#include <cstddef>
#include <cstdint>

namespace tidemark::interposer::cupti {

// --- activity (cupti_activity.cpp) ------------------------------------------------------------

struct ActivityCounts {
    uint64_t kernels = 0;
    uint64_t memcpys = 0;
    uint64_t memsets = 0;
    uint64_t allocs = 0; // MEMORY2 allocations
    uint64_t frees = 0; // MEMORY2 releases
    uint64_t poolEvents = 0; // MEMORY_POOL records
    uint64_t incomplete = 0; // records with zero timestamps (forced flush before completion)
    uint64_t ignored = 0; // kinds or memory kinds we do not record
};

// Walks a completed activity buffer with cuptiActivityGetNextRecord and emits wire records
// (Kernel, Memcpy, Memset, Alloc/Free with source kSourceCuptiActivity, Sample for pools). This is
// the function CUPTI's buffer-completed callback runs; tests feed it buffers of real structs.
ActivityCounts processActivityBuffer(uint8_t* buffer, size_t validBytes) noexcept;

// Running totals over all buffers (for the coverage report).
ActivityCounts activityTotals() noexcept;

// CUPTI buffer callbacks (registered with cuptiActivityRegisterCallbacks).
void CUPTIAPI bufferRequested(uint8_t** buffer, size_t* size, size_t* maxNumRecords);
void CUPTIAPI bufferCompleted(CUcontext context, uint32_t streamId, uint8_t* buffer, size_t size, size_t validSize);

// --- callbacks (cupti_callbacks.cpp, cupti_decode.cpp) ---------------------------------------

// One memory API call decoded from its CUPTI params struct at API exit.
struct ApiCall {
    enum class Op : uint8_t { Alloc, Free, Other };
    Api api = Api::Unknown;
    Op op = Op::Other;
    SpaceKind space = SpaceKind::Device;
    uint64_t address = 0; // for cuMemCreate/cuMemRelease: the generic allocation handle
    uint64_t size = 0;
    uint64_t stream = 0; // the caller's stream handle
    int device = -1; // -1: the device of the callback's context
};

// Decode a handled runtime / driver callback (params from generated_cuda*_meta.h); false for ids
// that are not memory calls. Valid only at API exit (output pointers are filled then).
bool decodeRuntime(CUpti_CallbackId cbid, const CUpti_CallbackData& cb, ApiCall& out) noexcept;
bool decodeDriver(CUpti_CallbackId cbid, const CUpti_CallbackData& cb, ApiCall& out) noexcept;

// The CUPTI subscriber callback: runtime and driver memory APIs become Alloc/Free/AllocFailed
// records with source kSourceCuptiCallback, a host stack and the thread's NVTX range; context
// teardown flushes activity. Device ordinals come from deviceOf (cuptiGetDeviceId by default).
void CUPTIAPI onCallback(void* userdata, CUpti_CallbackDomain domain, CUpti_CallbackId cbid, const void* data);

// The callback ids onCallback handles, for enabling: runtime first, then driver.
struct CallbackIds {
    const CUpti_CallbackId* runtime;
    size_t runtimeCount;
    const CUpti_CallbackId* driver;
    size_t driverCount;
};
CallbackIds handledCallbacks() noexcept;

// Tests replace the device lookup (cuptiGetDeviceId needs a real context).
using DeviceOfContext = uint32_t (*)(CUcontext context);
void setDeviceLookup(DeviceOfContext lookup) noexcept;

// Emits per-API callback counts as Stat records (at exit).
void reportCallbackCounts() noexcept;

// --- session (cupti_session.cpp) --------------------------------------------------------------

// The whole CUPTI setup, run once from InitializeInjection; returns 1 when anything was enabled.
int start() noexcept;

} // namespace tidemark::interposer::cupti
