// The C ABI between libtidemark.so and its CUPTI companion, libtidemark_cupti.so. The companion is
// linked to the toolkit's real libcupti and is dlopen'ed by InitializeInjection only when CUDA
// initialises, so processes that never use CUDA (shells, compilers, data-loader helpers started
// under LD_PRELOAD) never load libcupti. The companion reaches the writer through this table because
// libtidemark.so exports nothing but its entry points and hooks.
#pragma once

#include <cstddef>
#include <cstdint>

extern "C" {

struct TidemarkCuptiHost {
    uint32_t struct_size; // sizeof(TidemarkCuptiHost) of the caller
    uint32_t abi_version; // kTidemarkCuptiAbiVersion
    bool (*tracking_enabled)();
    uint64_t (*now_ns)();
    void (*emit)(const void* record, size_t bytes);
    uint32_t (*capture_stack)(unsigned skip);
    uint32_t (*intern_string)(const char* text, size_t len);
    uint32_t (*current_range_id)();
    uint32_t (*next_object_id)();
    void (*emit_stat)(uint16_t source, const char* name, uint64_t value, const char* detail);
    bool (*guard_enter)(); // enters a ReentryGuard on this thread; returns whether one was active
    void (*guard_leave)(); // leaves the innermost guard entered with guard_enter
    void (*log)(int level, const char* message);
};

// Exported by libtidemark_cupti.so; called once from InitializeInjection. Returns 1 when CUPTI was
// set up (subscribed and/or activity enabled), 0 when it could not be (the reason is a Stat record).
typedef int (*TidemarkCuptiStartFn)(const TidemarkCuptiHost* host);
}

constexpr uint32_t kTidemarkCuptiAbiVersion = 1;
constexpr const char* kTidemarkCuptiStartSymbol = "tidemark_cupti_start";
constexpr const char* kTidemarkCuptiLibrary = "libtidemark_cupti.so";
