// The companion library's side of cupti_bridge.h: implements the emit.h API the CUPTI code is
// written against by forwarding to the writer inside libtidemark.so through the table handed to
// tidemark_cupti_start. Linked only into libtidemark_cupti.so (tests link the test writer instead).
#include "interposer/cupti_bridge.h"
#include "interposer/cupti_internal.h"
#include "interposer/emit.h"

#include <atomic>
#include <cstring>

namespace tidemark::interposer {

namespace {
    std::atomic<const TidemarkCuptiHost*> g_host { nullptr };
    const TidemarkCuptiHost* host()
    {
        return g_host.load(std::memory_order_acquire);
    }
} // namespace

bool trackingEnabled() noexcept
{
    return host() && host()->tracking_enabled();
}
uint64_t nowNs() noexcept
{
    return host() ? host()->now_ns() : 0;
}
void emit(const void* record, size_t bytes) noexcept
{
    if (host())
        host()->emit(record, bytes);
}
uint32_t captureStack(unsigned skip) noexcept
{
    return host() ? host()->capture_stack(skip + 1) : 0;
} // + this frame
uint32_t internString(const char* text, size_t len) noexcept
{
    return host() && text ? host()->intern_string(text, len) : 0;
}
uint32_t internString(const char* text) noexcept
{
    return text ? internString(text, std::strlen(text)) : 0;
}
uint32_t currentRangeId() noexcept
{
    return host() ? host()->current_range_id() : 0;
}
void setCurrentRangeId(uint32_t) noexcept
{
} // ranges belong to the NVTX handlers in libtidemark.so
uint32_t nextObjectId() noexcept
{
    return host() ? host()->next_object_id() : 0;
}
void emitStat(wire::StatSource source, const char* name, uint64_t value, const char* detail) noexcept
{
    if (host())
        host()->emit_stat(static_cast<uint16_t>(source), name, value, detail);
}
void log(LogLevel level, const char* message) noexcept
{
    if (host())
        host()->log(static_cast<int>(level), message);
}

ReentryGuard::ReentryGuard() noexcept
    : m_wasInside(host() ? host()->guard_enter() : true)
{
}

ReentryGuard::~ReentryGuard()
{
    if (host())
        host()->guard_leave();
}

} // namespace tidemark::interposer

extern "C" __attribute__((visibility("default"))) int tidemark_cupti_start(const TidemarkCuptiHost* host)
{
    using namespace tidemark::interposer;
    if (!host || host->struct_size < sizeof(TidemarkCuptiHost) || host->abi_version != kTidemarkCuptiAbiVersion)
        return 0;
    g_host.store(host, std::memory_order_release);
    return cupti::start();
}

// Test entry: pushes a buffer of CUPTI activity records (built by a test from the toolkit's real
// structs) through exactly the path of CUPTI's worker thread — a buffer from bufferRequested, then
// bufferCompleted — and on to the writer through the bridge. Only works after tidemark_cupti_start;
// returns the number of records converted, or -1.
extern "C" __attribute__((visibility("default"))) long tidemark_cupti_test_feed_buffer(
    const void* records, size_t bytes)
{
    using namespace tidemark::interposer;
    if (!g_host.load() || !records)
        return -1;
    uint8_t* buffer = nullptr;
    size_t size = 0, maxRecords = 0;
    cupti::bufferRequested(&buffer, &size, &maxRecords);
    if (!buffer || bytes > size)
        return -1;
    std::memcpy(buffer, records, bytes);
    cupti::ActivityCounts before = cupti::activityTotals();
    cupti::bufferCompleted(nullptr, 0, buffer, size, bytes); // unmaps the buffer
    cupti::ActivityCounts after = cupti::activityTotals();
    return static_cast<long>((after.kernels - before.kernels) + (after.memcpys - before.memcpys)
        + (after.memsets - before.memsets) + (after.allocs - before.allocs) + (after.frees - before.frees)
        + (after.poolEvents - before.poolEvents));
}
