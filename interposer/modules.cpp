// Module map of the process: dl_iterate_phdr gives every loaded object's load bias, PT_LOAD range
// and in-memory GNU build-id; a rescan happens only when glibc's dlpi_adds/dlpi_subs counters move
// (checked on every drain tick, and after dlclose, which is hooked to catch unloads promptly).
#include "interposer/runtime.h"

#include <cstring>
#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <pthread.h>
#include <unistd.h>

namespace tidemark::interposer {

namespace {

constexpr unsigned kMaxModules = 4096;

struct KnownModule {
    uint64_t loadBias;
    uint64_t start;
    uint32_t generation;
};

KnownModule g_known[kMaxModules];
unsigned g_knownCount = 0;
uint32_t g_generation = 0;
unsigned long long g_lastAdds = ~0ull;
unsigned long long g_lastSubs = ~0ull;
uint64_t g_lastScanNs = 0;
pthread_mutex_t g_mutex = PTHREAD_MUTEX_INITIALIZER;

struct ScanContext {
    bool force;
    bool unchanged;
    uint64_t loadTs;
};

unsigned readBuildId(const dl_phdr_info* info, uint8_t* out) noexcept
{
    for (int i = 0; i < info->dlpi_phnum; ++i) {
        const ElfW(Phdr)& ph = info->dlpi_phdr[i];
        if (ph.p_type != PT_NOTE)
            continue;
        auto p = reinterpret_cast<const uint8_t*>(info->dlpi_addr + ph.p_vaddr);
        const uint8_t* end = p + ph.p_memsz;
        while (p + sizeof(ElfW(Nhdr)) <= end) {
            auto* n = reinterpret_cast<const ElfW(Nhdr)*>(p);
            const uint8_t* name = p + sizeof(ElfW(Nhdr));
            const uint8_t* desc = name + ((n->n_namesz + 3u) & ~3u);
            const uint8_t* next = desc + ((n->n_descsz + 3u) & ~3u);
            if (next > end)
                break;
            if (n->n_type == NT_GNU_BUILD_ID && n->n_namesz == 4 && std::memcmp(name, "GNU", 4) == 0) {
                unsigned len = n->n_descsz < 32 ? n->n_descsz : 32;
                std::memcpy(out, desc, len);
                return len;
            }
            p = next;
        }
    }
    return 0;
}

void emitModule(const dl_phdr_info* info, uint64_t start, uint64_t end, uint64_t ts) noexcept
{
    char exe[4096];
    const char* path = info->dlpi_name;
    if (!path || !*path) { // the main executable
        ssize_t n = ::readlink("/proc/self/exe", exe, sizeof(exe) - 1);
        exe[n > 0 ? n : 0] = '\0';
        path = exe;
    }
    size_t len = std::strlen(path);
    if (len > wire::kMaxStringBytes)
        len = wire::kMaxStringBytes;
    alignas(8) uint8_t buf[sizeof(wire::ModuleRecord) + wire::kMaxStringBytes + 8];
    wire::ModuleRecord r {};
    r.h.kind = uint16_t(wire::Kind::Module);
    r.h.size_bytes = uint16_t(wire::padTo8(uint32_t(sizeof(r) + len)));
    r.path_len = uint32_t(len);
    r.ts_ns = ts;
    r.load_bias = info->dlpi_addr;
    r.vaddr_start = start;
    r.vaddr_end = end;
    r.build_id_len = uint8_t(readBuildId(info, r.build_id));
    std::memcpy(buf, &r, sizeof(r));
    std::memcpy(buf + sizeof(r), path, len);
    std::memset(buf + sizeof(r) + len, 0, r.h.size_bytes - sizeof(r) - len);
    emit(buf, r.h.size_bytes);
    g_counters.moduleRecords.fetch_add(1, std::memory_order_relaxed);
}

int scanOne(dl_phdr_info* info, size_t size, void* data) noexcept
{
    auto* ctx = static_cast<ScanContext*>(data);
    if (size >= offsetof(dl_phdr_info, dlpi_subs) + sizeof(info->dlpi_subs) && !ctx->force) {
        if (info->dlpi_adds == g_lastAdds && info->dlpi_subs == g_lastSubs) {
            ctx->unchanged = true;
            return 1; // nothing loaded or unloaded since the last scan: stop at the first object
        }
    }
    g_lastAdds = info->dlpi_adds;
    g_lastSubs = info->dlpi_subs;
    ctx->force = true; // visit the rest without re-checking the counters
    uint64_t start = ~0ull, end = 0;
    for (int i = 0; i < info->dlpi_phnum; ++i) {
        const ElfW(Phdr)& ph = info->dlpi_phdr[i];
        if (ph.p_type != PT_LOAD)
            continue;
        uint64_t s = info->dlpi_addr + ph.p_vaddr;
        start = s < start ? s : start;
        end = s + ph.p_memsz > end ? s + ph.p_memsz : end;
    }
    if (end == 0)
        return 0;
    for (unsigned i = 0; i < g_knownCount; ++i) {
        if (g_known[i].loadBias == info->dlpi_addr && g_known[i].start == start) {
            g_known[i].generation = g_generation;
            return 0;
        }
    }
    if (g_knownCount < kMaxModules)
        g_known[g_knownCount++] = KnownModule { info->dlpi_addr, start, g_generation };
    emitModule(info, start, end, ctx->loadTs);
    return 0;
}

void emitUnload(uint64_t loadBias, uint64_t ts) noexcept
{
    wire::ModuleUnloadRecord r {};
    r.h.kind = uint16_t(wire::Kind::ModuleUnload);
    r.h.size_bytes = sizeof(r);
    r.ts_ns = ts;
    r.load_bias = loadBias;
    emit(&r, sizeof(r));
    g_counters.moduleUnloads.fetch_add(1, std::memory_order_relaxed);
}

} // namespace

// A module found by a rescan is stamped with the time of the previous scan: it was loaded at some
// point after that, so every stack captured after its load time resolves against it.
void modulesScan(bool force) noexcept
{
    if (!active())
        return;
    ReentryGuard guard;
    pthread_mutex_lock(&g_mutex);
    uint64_t now = nowNs();
    ScanContext ctx { force, false, g_knownCount == 0 ? g_startNs : g_lastScanNs };
    ++g_generation;
    dl_iterate_phdr(scanOne, &ctx);
    if (!ctx.unchanged) {
        unsigned kept = 0;
        for (unsigned i = 0; i < g_knownCount; ++i) {
            if (g_known[i].generation == g_generation)
                g_known[kept++] = g_known[i];
            else
                emitUnload(g_known[i].loadBias, now);
        }
        g_knownCount = kept;
    }
    g_lastScanNs = now;
    pthread_mutex_unlock(&g_mutex);
}

void modulesResetAfterFork() noexcept
{
    pthread_mutex_init(&g_mutex, nullptr);
    g_knownCount = 0;
    g_lastAdds = ~0ull;
    g_lastSubs = ~0ull;
    g_lastScanNs = 0;
}

} // namespace tidemark::interposer

using namespace tidemark::interposer;

// dlclose is hooked only to record objects loaded since the last scan before they go, and to notice
// unloads at once (hooking dlopen would change whose RUNPATH resolves bare names).
extern "C" TIDEMARK_EXPORT int dlclose(void* handle)
{
    static int (*real)(void*) = nullptr;
    if (!real)
        real = reinterpret_cast<int (*)(void*)>(dlsym(RTLD_NEXT, "dlclose"));
    if (!real)
        return -1;
    // Scan first: an object loaded since the last drain tick would otherwise vanish unrecorded.
    if (active() && t_tls.inside == 0)
        modulesScan(false);
    int rc = real(handle);
    if (rc == 0)
        g_cfiEpoch.fetch_add(1, std::memory_order_acq_rel); // cached unwind rules may describe unloaded code
    if (rc == 0 && active() && t_tls.inside == 0)
        modulesScan(false);
    return rc;
}
