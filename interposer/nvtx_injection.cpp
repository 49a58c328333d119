// NVTX injection entry points. NVTX (header-only, once per linkage unit) dlopens the library named
// by NVTX_INJECTION64_PATH and calls InitializeInjectionNvtx2 for the core API and
// InitializeInjectionNvtxExtension for extensions such as the memory extension. Both may run many
// times and concurrently (libtorch, NCCL, the app...): each call only fills that unit's tables.
#include "interposer/emit.h"
#include "interposer/nvtx_internal.h"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <pthread.h>

namespace tidemark::interposer::nvtx {

namespace {

    std::atomic<uint32_t> g_coreUnits { 0 };
    std::atomic<uint32_t> g_memUnits { 0 };
    std::atomic<uint32_t> g_ignoredExtensions { 0 };
    std::atomic<bool> g_atforkRegistered { false };

    bool disabledByEnv() noexcept
    {
        const char* v = std::getenv("TIDEMARK_NVTX");
        return v && (std::strcmp(v, "0") == 0 || std::strcmp(v, "off") == 0);
    }

    void onForkChild()
    {
        invalidateStringCache(); // the child writes a spool file of its own
    }

    bool fillModule(const NvtxExportTableCallbacks* callbacks, NvtxCallbackModule module) noexcept
    {
        NvtxFunctionTable table = nullptr;
        unsigned size = 0;
        if (!callbacks->GetModuleFunctionTable(module, &table, &size) || !table)
            return false;
        if (module == NVTX_CB_MODULE_CORE)
            installCore(table, size);
        else
            installCore2(table, size);
        return true;
    }

} // namespace

} // namespace tidemark::interposer::nvtx

using namespace tidemark::interposer;

extern "C" __attribute__((visibility("default"))) int InitializeInjectionNvtx2(NvtxGetExportTableFunc_t getExportTable)
{
    if (nvtx::disabledByEnv()) {
        // Returning 0 makes NVTX turn every call of this linkage unit into a no-op.
        emitStat(tidemark::wire::StatSource::Nvtx, "nvtx.injection", 0, "disabled by TIDEMARK_NVTX=0");
        return 0;
    }
    if (!getExportTable)
        return 0;
    auto* callbacks = static_cast<const NvtxExportTableCallbacks*>(getExportTable(NVTX_ETID_CALLBACKS));
    if (!callbacks || callbacks->struct_size < sizeof(NvtxExportTableCallbacks) || !callbacks->GetModuleFunctionTable)
        return 0;
    auto* version = static_cast<const NvtxExportTableVersionInfo*>(getExportTable(NVTX_ETID_VERSIONINFO));
    if (version && version->struct_size >= sizeof(NvtxExportTableVersionInfo) && version->SetInjectionNvtxVersion)
        version->SetInjectionNvtxVersion(NVTX_VERSION);
    if (!nvtx::fillModule(callbacks, NVTX_CB_MODULE_CORE) || !nvtx::fillModule(callbacks, NVTX_CB_MODULE_CORE2))
        return 0;
    if (!nvtx::g_atforkRegistered.exchange(true))
        pthread_atfork(nullptr, nullptr, &nvtx::onForkChild);
    uint32_t units = nvtx::g_coreUnits.fetch_add(1) + 1;
    emitStat(tidemark::wire::StatSource::Nvtx, "nvtx.injection", units,
        "active: ranges, marks, domains, registered strings, thread names (value = linkage units)");
    return 1;
}

extern "C" __attribute__((visibility("default"))) int InitializeInjectionNvtxExtension(nvtxExtModuleInfo_t* info)
{
    if (nvtx::disabledByEnv() || !info)
        return 0;
    if (info->moduleId != NVTX_EXT_MODULEID_MEM || info->compatId != NVTX_EXT_COMPATID_MEM) {
        // Payload, counters, ...: nothing to record. Succeed with no slot filled so the module's
        // calls become no-ops without NVTX unloading the library.
        uint32_t n = nvtx::g_ignoredExtensions.fetch_add(1) + 1;
        emitStat(
            tidemark::wire::StatSource::Nvtx, "nvtx.extensions_ignored", n, "NVTX extension modules other than memory");
        return 1;
    }
    if (nvtx::installMem(info) == 0)
        return 0;
    uint32_t units = nvtx::g_memUnits.fetch_add(1) + 1;
    emitStat(tidemark::wire::StatSource::Nvtx, "nvtx.mem_extension", units,
        "active: heaps, regions (register/unregister/resize/name) (value = linkage units)");
    return 1;
}
