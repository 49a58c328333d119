// Shared pieces of tidemark's NVTX injection (nvtx_*.cpp): string and domain handles that must
// stay process-global although every linkage unit initialises NVTX on its own, the thread's range
// stack, and the table installers called from InitializeInjectionNvtx2 / ...Extension.
#pragma once

#define NVTX_NO_IMPL
#include <nvtx3/nvToolsExt.h>
#include <nvtx3/nvToolsExtMem.h>

#include <cstdint>

namespace tidemark::interposer::nvtx {

// --- strings and domains (nvtx_strings.cpp) ---------------------------------------------------

// String id (this spool) of an ASCII / wide / registered NVTX message; 0 when there is none.
uint32_t asciiStringId(const char* text) noexcept;
uint32_t wideStringId(const wchar_t* text) noexcept;
uint32_t messageStringId(int32_t messageType, const nvtxMessageValue_t& message) noexcept;

// Process-global handles: the same name gives the same handle in every linkage unit.
nvtxDomainHandle_t createDomain(const char* name) noexcept;
nvtxStringHandle_t registerString(const char* text) noexcept;
// String id of a domain's name; 0 for the default domain (nullptr) and unknown handles.
uint32_t domainStringId(nvtxDomainHandle_t domain) noexcept;

// Converts a wide (UTF-32) string to UTF-8 into out (always NUL-terminated); returns the length.
size_t wideToUtf8(const wchar_t* text, char* out, size_t capacity) noexcept;

// Called in a forked child: string ids are per spool file, so cached ids must be re-interned.
void invalidateStringCache() noexcept;

// --- ranges, marks, thread names (nvtx_ranges.cpp) --------------------------------------------

// Writes tidemark's handlers into the CORE and CORE2 slots of one linkage unit.
void installCore(NvtxFunctionTable table, unsigned size) noexcept;
void installCore2(NvtxFunctionTable table, unsigned size) noexcept;

// Depth of the calling thread's push/pop stack (all domains); for tests and coverage.
unsigned threadRangeDepth() noexcept;

// --- memory extension (nvtx_mem.cpp) ----------------------------------------------------------

// Fills the memory module's function slots; returns the number of slots filled.
unsigned installMem(nvtxExtModuleInfo_t* info) noexcept;

} // namespace tidemark::interposer::nvtx
