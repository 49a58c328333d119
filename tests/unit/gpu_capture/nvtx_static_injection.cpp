// Points NVTX's static-injection hook at tidemark's real entry points, so the test binary's own NVTX
// calls (real nvtx3 headers) reach the real handlers without NVTX_INJECTION64_PATH.
#define NVTX_NO_IMPL
#include <nvtx3/nvToolsExt.h>
#include <nvtx3/nvToolsExtMem.h>

extern "C" int InitializeInjectionNvtx2(NvtxGetExportTableFunc_t);
extern "C" int InitializeInjectionNvtxExtension(nvtxExtModuleInfo_t*);

extern "C" {
NvtxInitializeInjectionNvtxFunc_t InitializeInjectionNvtx2_fnptr = InitializeInjectionNvtx2;
NvtxExtInitializeInjectionFunc_t InitializeInjectionNvtxExtension_fnptr = InitializeInjectionNvtxExtension;
}
