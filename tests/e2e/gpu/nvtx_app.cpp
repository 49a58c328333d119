// A program using NVTX ranges, domains, registered strings and the memory extension from two
// linkage units (this executable and libtidemark_nvtx_helper.so), for the NVTX injection tests run
// with NVTX_INJECTION64_PATH. Prints its ground truth as "TRUTH ..." lines.
#include <nvtx3/nvToolsExt.h>
#include <nvtx3/nvToolsExtMem.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

extern "C" void helperWork(int step); // in nvtx_helper.cpp: its own NVTX linkage unit

int main(int argc, char** argv)
{
    int steps = argc > 1 ? std::atoi(argv[1]) : 3;
    nvtxDomainHandle_t domain = nvtxDomainCreateA("tidemark-test");
    nvtxStringHandle_t stepName = nvtxDomainRegisterStringA(domain, "train_step");
    nvtxNameOsThreadA(0, "main-thread");

    static char pool[1 << 16];
    nvtxMemVirtualRangeDesc_t heapRange { sizeof(pool), pool };
    nvtxMemHeapDesc_t heapDesc {};
    heapDesc.extCompatID = NVTX_EXT_COMPATID_MEM;
    heapDesc.structSize = sizeof(heapDesc);
    heapDesc.usage = NVTX_MEM_HEAP_USAGE_TYPE_SUB_ALLOCATOR;
    heapDesc.type = NVTX_MEM_TYPE_VIRTUAL_ADDRESS;
    heapDesc.typeSpecificDescSize = sizeof(heapRange);
    heapDesc.typeSpecificDesc = &heapRange;
    heapDesc.messageType = NVTX_MESSAGE_TYPE_ASCII;
    heapDesc.message.ascii = "pool";
    nvtxMemHeapHandle_t heap = nvtxMemHeapRegister(domain, &heapDesc);
    std::printf("TRUTH heap ptr=%p size=%zu\n", static_cast<void*>(pool), sizeof(pool));

    for (int step = 0; step < steps; ++step) {
        nvtxEventAttributes_t a {};
        a.version = NVTX_VERSION;
        a.size = NVTX_EVENT_ATTRIB_STRUCT_SIZE;
        a.messageType = NVTX_MESSAGE_TYPE_REGISTERED;
        a.message.registered = stepName;
        nvtxDomainRangePushEx(domain, &a);
        nvtxMemVirtualRangeDesc_t region { 1024u * (step + 1), pool + 4096 * step };
        nvtxMemRegionsRegisterBatch_t reg {};
        reg.extCompatID = NVTX_EXT_COMPATID_MEM;
        reg.structSize = sizeof(reg);
        reg.regionType = NVTX_MEM_TYPE_VIRTUAL_ADDRESS;
        reg.heap = heap;
        reg.regionCount = 1;
        reg.regionDescElementSize = sizeof(region);
        reg.regionDescElements = &region;
        nvtxMemRegionsRegister(domain, &reg);
        std::printf("TRUTH region ptr=%p size=%zu phase=train_step\n", region.ptr, region.size);
        helperWork(step);
        if (step + 1 < steps) { // the last region stays registered
            nvtxMemRegionRef_t ref;
            ref.pointer = region.ptr;
            nvtxMemRegionsUnregisterBatch_t un {};
            un.extCompatID = NVTX_EXT_COMPATID_MEM;
            un.structSize = sizeof(un);
            un.refType = NVTX_MEM_REGION_REF_TYPE_POINTER;
            un.refCount = 1;
            un.refElementSize = sizeof(ref);
            un.refElements = &ref;
            nvtxMemRegionsUnregister(domain, &un);
            std::printf("TRUTH unregister ptr=%p\n", region.ptr);
        }
        nvtxDomainRangePop(domain);
    }
    nvtxMarkA("done");
    std::printf("TRUTH ranges=%d\n", steps * 2);
    return 0;
}
