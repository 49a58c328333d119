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

    uint32_t begin(const char* name, size_t len, uint32_t parent) noexcept
    {
        return emitRangeBegin({ wire::RangeKind::StartEnd, parent, internString("torch", 5), internString(name, len) });
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
    SpinGuard lock(g_lock);
    emitRangeEnd(g_modelPhase.exchange(0, std::memory_order_relaxed));
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
    SpinGuard lock(g_lock);
    emitRangeEnd(g_modelPhase.exchange(0, std::memory_order_relaxed));
    emitRangeEnd(g_modelStep.exchange(0, std::memory_order_relaxed));
    if (n > 0) {
        char name[32];
        int len = std::snprintf(name, sizeof(name), "step %llu", n);
        g_modelStep.store(begin(name, static_cast<size_t>(len), 0), std::memory_order_relaxed);
    }
}
