// The wire records of a device-side allocation, failure and free, shared by the two sources that see
// them: the CUDA runtime hooks (LD_PRELOAD) and the CUPTI API callbacks. Callers capture the stack
// themselves, so the frames skipped stay those of their own hook.
#pragma once

#include "interposer/emit.h"
#include "trace/enums.h"
#include "trace/wire.h"

#include <cstdint>

namespace tidemark::interposer {

struct DeviceEvent {
    Api api;
    SpaceKind space;
    uint8_t device;
    uint64_t stream;
    uint32_t source; // SourceBits
};

// The header and the fields every device record takes from its event, stamped now.
template <typename Record> Record deviceRecord(wire::Kind kind, const DeviceEvent& e) noexcept
{
    Record r {};
    r.h.kind = static_cast<uint16_t>(kind);
    r.h.size_bytes = sizeof(r);
    r.api = static_cast<uint16_t>(e.api);
    r.space_kind = static_cast<uint8_t>(e.space);
    r.device = e.device;
    r.ts_ns = nowNs();
    r.source = e.source;
    return r;
}

inline void emitDeviceAlloc(const DeviceEvent& e, uint64_t address, uint64_t size, uint32_t stackId) noexcept
{
    auto r = deviceRecord<wire::AllocRecord>(wire::Kind::Alloc, e);
    r.address = address;
    r.size = size;
    r.stack_id = stackId;
    r.range_id = currentRangeId();
    r.stream = e.stream;
    emit(&r, sizeof(r));
}

// freeBytes/totalBytes: cudaMemGetInfo at the failure, UINT64_MAX when unknown.
inline void emitDeviceFailure(const DeviceEvent& e, uint64_t size, uint32_t stackId, int32_t error,
    uint64_t freeBytes = UINT64_MAX, uint64_t totalBytes = UINT64_MAX) noexcept
{
    auto r = deviceRecord<wire::AllocFailedRecord>(wire::Kind::AllocFailed, e);
    r.size = size;
    r.stack_id = stackId;
    r.range_id = currentRangeId();
    r.stream = e.stream;
    r.error_code = error;
    r.device_free_bytes = freeBytes;
    r.device_total_bytes = totalBytes;
    emit(&r, sizeof(r));
}

inline void emitDeviceFree(const DeviceEvent& e, uint64_t address) noexcept
{
    auto r = deviceRecord<wire::FreeRecord>(wire::Kind::Free, e);
    r.address = address;
    emit(&r, sizeof(r));
}

} // namespace tidemark::interposer
