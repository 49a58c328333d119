// Sets CUPTI up inside InitializeInjection (via tidemark_cupti_start): version check, subscription
// (cuptiSubscribe_v2, naming the tool already holding CUPTI if any), CLOCK_MONOTONIC timestamps,
// activity buffers and kinds, memory API callbacks, periodic flushing, and a forced flush at exit
// that an inherited handler in a forked child skips. Every outcome becomes a coverage Stat record.
#include "interposer/cupti_internal.h"
#include "interposer/emit.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <unistd.h>

namespace tidemark::interposer::cupti {

namespace {

    std::atomic<pid_t> g_ownerPid { 0 };

    uint64_t CUPTIAPI monotonicClock()
    {
        return nowNs();
    }

    const char* resultName(CUptiResult r)
    {
        const char* text = nullptr;
        return cuptiGetResultString(r, &text) == CUPTI_SUCCESS && text ? text : "unknown CUPTI error";
    }

    void stat(const char* name, uint64_t value, const char* detail)
    {
        emitStat(wire::StatSource::Cupti, name, value, detail);
    }

    // Activity record layouts are versioned by struct name and cupti_activity.h only describes the
    // newest ones, so records are parsed only when libcupti is the version we were built against.
    bool activityLayoutsMatch(char* why, size_t cap)
    {
        uint32_t version = 0;
        if (cuptiGetVersion(&version) != CUPTI_SUCCESS) {
            snprintf(why, cap, "cuptiGetVersion failed");
            return false;
        }
        if (version != CUPTI_API_VERSION) {
            snprintf(why, cap, "libcupti API version %u, built against %u: activity records not parsed", version,
                static_cast<unsigned>(CUPTI_API_VERSION));
            return false;
        }
        return true;
    }

    bool subscribe(CUpti_SubscriberHandle& subscriber)
    {
        char holder[CUPTI_OLD_SUBSCRIBER_NAME_MIN_LEN > 256 ? CUPTI_OLD_SUBSCRIBER_NAME_MIN_LEN : 256] = {};
        CUpti_SubscriberParams params {};
        params.structSize = CUpti_SubscriberParams_STRUCT_SIZE;
        params.subscriberName = "tidemark";
        params.oldSubscriberName = holder;
        params.oldSubscriberSize = sizeof(holder);
        CUptiResult r = cuptiSubscribe_v2(&subscriber, &onCallback, nullptr, &params);
        if (r == CUPTI_SUCCESS) {
            stat("cupti", 1, "subscribed: runtime and driver memory API callbacks");
            return true;
        }
        char detail[512];
        if (r == CUPTI_ERROR_MULTIPLE_SUBSCRIBERS_NOT_SUPPORTED)
            snprintf(detail, sizeof(detail),
                "not subscribed: CUPTI is already in use by '%s' (nsys, ncu, "
                "compute-sanitizer or torch.profiler); device memory seen only by the LD_PRELOAD hooks",
                holder[0] ? holder : "another tool");
        else
            snprintf(detail, sizeof(detail), "not subscribed: cuptiSubscribe_v2 failed: %s", resultName(r));
        stat("cupti", 0, detail);
        log(LogLevel::Warn, detail);
        return false;
    }

    void enableCallbacks(CUpti_SubscriberHandle subscriber)
    {
        CallbackIds ids = handledCallbacks();
        unsigned failed = 0;
        for (size_t i = 0; i < ids.runtimeCount; ++i)
            failed += cuptiEnableCallback(1, subscriber, CUPTI_CB_DOMAIN_RUNTIME_API, ids.runtime[i]) != CUPTI_SUCCESS;
        for (size_t i = 0; i < ids.driverCount; ++i)
            failed += cuptiEnableCallback(1, subscriber, CUPTI_CB_DOMAIN_DRIVER_API, ids.driver[i]) != CUPTI_SUCCESS;
        failed += cuptiEnableCallback(
                      1, subscriber, CUPTI_CB_DOMAIN_RESOURCE, CUPTI_CBID_RESOURCE_CONTEXT_DESTROY_STARTING)
            != CUPTI_SUCCESS;
        failed
            += cuptiEnableCallback(1, subscriber, CUPTI_CB_DOMAIN_STATE, CUPTI_CBID_STATE_FATAL_ERROR) != CUPTI_SUCCESS;
        if (failed)
            stat("cupti.callbacks_not_enabled", failed, "callback ids CUPTI refused to enable");
    }

    void enableActivity()
    {
        // The clock must be registered before any kind is enabled (cupti_activity.h).
        CUptiResult clock = cuptiActivityRegisterTimestampCallback(&monotonicClock);
        if (clock != CUPTI_SUCCESS)
            stat("cupti.clock", 0, "CUPTI timestamps are not CLOCK_MONOTONIC: GPU times cannot be aligned");
        CUptiResult r = cuptiActivityRegisterCallbacks(&bufferRequested, &bufferCompleted);
        if (r != CUPTI_SUCCESS) {
            stat("cupti.activity", 0, resultName(r));
            return;
        }
        struct Kind {
            CUpti_ActivityKind kind;
            const char* name;
        };
        const Kind kinds[] = { { CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL, "CONCURRENT_KERNEL" },
            { CUPTI_ACTIVITY_KIND_MEMCPY, "MEMCPY" }, { CUPTI_ACTIVITY_KIND_MEMSET, "MEMSET" },
            { CUPTI_ACTIVITY_KIND_MEMORY2, "MEMORY2" }, { CUPTI_ACTIVITY_KIND_MEMORY_POOL, "MEMORY_POOL" } };
        char enabled[256] = "enabled:";
        char refused[256] = "";
        unsigned count = 0;
        for (const Kind& k : kinds) {
            bool ok = cuptiActivityEnable(k.kind) == CUPTI_SUCCESS;
            char* list = ok ? enabled : refused;
            strncat(list, " ", 255 - strlen(list));
            strncat(list, k.name, 255 - strlen(list));
            count += ok;
        }
        if (refused[0]) {
            strncat(enabled, "; refused:", 255 - strlen(enabled));
            strncat(enabled, refused, 255 - strlen(enabled));
        }
        stat("cupti.activity", count, enabled);
        const char* period = std::getenv("TIDEMARK_CUPTI_FLUSH_MS");
        unsigned ms = period ? static_cast<unsigned>(std::atoi(period)) : 100;
        cuptiActivityFlushPeriod(ms); // CUPTI's worker delivers full buffers while the target runs
    }

    void atExit()
    {
        if (getpid() != g_ownerPid.load())
            return; // inherited by a forked child: no CUDA or CUPTI there
        ReentryGuard guard;
        // Forced: also buffers with records still in flight, so nothing completed is left behind.
        cuptiActivityFlushAll(CUPTI_ACTIVITY_FLAG_FLUSH_FORCED);
        reportCallbackCounts();
        ActivityCounts t = activityTotals();
        stat("cupti.kernels", t.kernels, "CONCURRENT_KERNEL records");
        stat("cupti.memcpys", t.memcpys, "MEMCPY records");
        stat("cupti.memsets", t.memsets, "MEMSET records");
        stat("cupti.memory_records", t.allocs + t.frees, "MEMORY2 allocation and release records");
        stat("cupti.pool_records", t.poolEvents, "MEMORY_POOL records");
        if (t.incomplete)
            stat("cupti.incomplete_records", t.incomplete, "activity records without timestamps at exit (dropped)");
    }

} // namespace

int start() noexcept
{
    g_ownerPid.store(getpid());
    // Subscribe first: CUPTI initialises on its first call, and the subscription should precede
    // every other CUPTI call (CUPTI docs, "CUPTI Initialization").
    CUpti_SubscriberHandle subscriber {};
    bool subscribed = subscribe(subscriber);
    char why[256];
    bool layouts = activityLayoutsMatch(why, sizeof(why));
    if (subscribed)
        enableCallbacks(subscriber);
    if (layouts)
        enableActivity();
    else
        stat("cupti.activity", 0, why);
    // Our handler is registered during cuInit, after the static constructors' handlers, so it runs
    // before their teardown while the driver is still usable.
    std::atexit(&atExit);
    return subscribed || layouts ? 1 : 0;
}

} // namespace tidemark::interposer::cupti
