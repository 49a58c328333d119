// Reads the TIDEMARK_* environment contract (set by `tidemark record`) once, in the constructor,
// and provides mmap-backed memory for the capture core's own structures.
#include "interposer/runtime.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <sys/mman.h>

namespace tidemark::interposer {

Config g_config;

namespace {

// Parses a decimal environment value; returns fallback when unset or malformed.
unsigned long envNumber(const char* name, unsigned long fallback, unsigned long maxValue) noexcept
{
    const char* v = std::getenv(name);
    if (!v || !*v)
        return fallback;
    unsigned long n = 0;
    for (const char* p = v; *p; ++p) {
        if (*p < '0' || *p > '9') {
            log(LogLevel::Warn, "ignoring a malformed numeric TIDEMARK_* variable");
            return fallback;
        }
        n = n * 10 + static_cast<unsigned long>(*p - '0');
        if (n > maxValue)
            return maxValue;
    }
    return n;
}

bool envFlag(const char* name, bool fallback) noexcept
{
    const char* v = std::getenv(name);
    if (!v || !*v)
        return fallback;
    return !(std::strcmp(v, "0") == 0 || std::strcmp(v, "no") == 0 || std::strcmp(v, "off") == 0
        || std::strcmp(v, "false") == 0);
}

} // namespace

void loadConfig() noexcept
{
    Config c;
    const char* dir = std::getenv("TIDEMARK_SPOOL_DIR");
    if (dir && std::strlen(dir) < sizeof(c.spoolDir))
        std::strcpy(c.spoolDir, dir);
    else if (dir)
        log(LogLevel::Warn, "TIDEMARK_SPOOL_DIR is too long; capture stays off");
    c.stackDepth = static_cast<unsigned>(envNumber("TIDEMARK_STACK_DEPTH", 64, wire::kMaxStackDepth));
    // "dwarf" is the old name of libunwind, from before the CFI walker existed.
    const char* unwind = std::getenv("TIDEMARK_UNWIND");
    if (unwind && std::strcmp(unwind, "fp") == 0)
        c.unwinder = Unwinder::FramePointer;
    else if (unwind && (std::strcmp(unwind, "libunwind") == 0 || std::strcmp(unwind, "dwarf") == 0))
        c.unwinder = Unwinder::Libunwind;
    else if (unwind && *unwind && std::strcmp(unwind, "cfi") != 0)
        log(LogLevel::Warn, "TIDEMARK_UNWIND must be cfi, fp or libunwind; using cfi");
    c.host = envFlag("TIDEMARK_HOST", true);
    c.followFork = envFlag("TIDEMARK_FOLLOW_FORK", true);
    c.checkUnwind = envFlag("TIDEMARK_UNWIND_CHECK", false);
    c.flushMs = static_cast<unsigned>(envNumber("TIDEMARK_FLUSH_MS", 5, 1000));
    if (c.flushMs == 0)
        c.flushMs = 1;
    // Per-thread ring size in KiB, rounded up to a power of two (64 KiB .. 256 MiB).
    size_t kib = envNumber("TIDEMARK_BUFFER_KB", 4096, 256 * 1024);
    size_t bytes = 64 * 1024;
    while (bytes < kib * 1024)
        bytes <<= 1;
    c.ringBytes = bytes;
    g_config = c;
}

void* rawAlloc(size_t bytes) noexcept
{
    int saved = errno;
    void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    errno = saved;
    return p == MAP_FAILED ? nullptr : p;
}

void rawFree(void* p, size_t bytes) noexcept
{
    if (p) {
        int saved = errno;
        ::munmap(p, bytes);
        errno = saved;
    }
}

} // namespace tidemark::interposer
