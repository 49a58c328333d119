// Model phases: the training phases a framework hook inside the target reports, without NVTX.
// tidemark's Python hook (python/tidemark_torch.py, loaded by `record` through sitecustomize) calls
// the two C functions below through ctypes: tidemark_model_phase() when the running nn.Module, the
// backward pass or the optimizer changes, tidemark_model_step() at each optimizer step. They become
// ordinary start/end ranges in the "torch" domain, so peak by phase, growth per step and the GUI
// treat them like NVTX ranges.
//
// Phases are process-wide, not per thread: PyTorch runs a CUDA backward pass on its own device
// threads, and what they allocate belongs to the phase the training loop is in. An allocation takes
// the open model phase, else its thread's innermost NVTX range, else the open step.
#include "interposer/runtime.h"

#include <atomic>
#include <cstdio>
#include <cstring>

namespace tidemark::interposer {

std::atomic<uint32_t> g_modelPhase { 0 };
std::atomic<uint32_t> g_modelStep { 0 };

namespace {

    std::atomic<bool> g_lock { false }; // serialises the switch of both (callers hold the GIL anyway)

    struct Lock {
        Lock() noexcept
        {
            while (g_lock.exchange(true, std::memory_order_acquire))
                ;
        }
        ~Lock() { g_lock.store(false, std::memory_order_release); }
    };

    uint32_t begin(const char* name, size_t len, uint32_t parent) noexcept
    {
        wire::RangeBeginRecord r {};
        r.h.kind = static_cast<uint16_t>(wire::Kind::RangeBegin);
        r.h.size_bytes = sizeof(r);
        r.range_kind = static_cast<uint8_t>(wire::RangeKind::StartEnd);
        r.range_id = nextObjectId();
        r.parent_id = parent;
        r.domain_id = internString("torch", 5);
        r.name_id = internString(name, len);
        r.ts_ns = nowNs();
        emit(&r, sizeof(r));
        return r.range_id;
    }

    void end(uint32_t id) noexcept
    {
        if (id == 0)
            return;
        wire::RangeEndRecord r {};
        r.h.kind = static_cast<uint16_t>(wire::Kind::RangeEnd);
        r.h.size_bytes = sizeof(r);
        r.range_id = id;
        r.ts_ns = nowNs();
        emit(&r, sizeof(r));
    }

} // namespace

void modelPhasesReset() noexcept
{
    // A fork child's ids restart; the parent's ranges are not the child's to end.
    g_lock.store(false);
    g_modelStep.store(0);
    g_modelPhase.store(0);
}

} // namespace tidemark::interposer

using namespace tidemark::interposer;

// Ends the open model phase and, when name is neither null nor empty, begins one called name
// inside the open step.
extern "C" __attribute__((visibility("default"))) void tidemark_model_phase(const char* name)
{
    if (!trackingEnabled())
        return;
    ReentryGuard guard;
    Lock lock;
    end(g_modelPhase.exchange(0, std::memory_order_relaxed));
    if (name && *name)
        g_modelPhase.store(
            begin(name, strnlen(name, tidemark::wire::kMaxStringBytes), g_modelStep.load(std::memory_order_relaxed)),
            std::memory_order_relaxed);
}

// Ends the open model phase and step; n > 0 begins "step n".
extern "C" __attribute__((visibility("default"))) void tidemark_model_step(unsigned long long n)
{
    if (!trackingEnabled())
        return;
    ReentryGuard guard;
    Lock lock;
    end(g_modelPhase.exchange(0, std::memory_order_relaxed));
    end(g_modelStep.exchange(0, std::memory_order_relaxed));
    if (n > 0) {
        char name[32];
        int len = std::snprintf(name, sizeof(name), "step %llu", n);
        g_modelStep.store(begin(name, static_cast<size_t>(len), 0), std::memory_order_relaxed);
    }
}
