// Second NVTX linkage unit for nvtx_app: NVTX initialises separately here, so tidemark's injection
// runs twice in one process and must hand out the same domain handles.
#include <nvtx3/nvToolsExt.h>

#include <cstdio>

extern "C" __attribute__((visibility("default"))) void helperWork(int step)
{
    nvtxDomainHandle_t domain = nvtxDomainCreateA("tidemark-test"); // same name as the app's
    nvtxEventAttributes_t a {};
    a.version = NVTX_VERSION;
    a.size = NVTX_EVENT_ATTRIB_STRUCT_SIZE;
    a.messageType = NVTX_MESSAGE_TYPE_ASCII;
    a.message.ascii = "helper";
    nvtxDomainRangePushEx(domain, &a);
    std::printf("TRUTH helper step=%d\n", step);
    nvtxDomainRangePop(domain);
}
