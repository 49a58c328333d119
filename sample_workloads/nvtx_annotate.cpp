// NVTX v3 is header-only: the first call of each function looks for an injected tool
// (NVTX_INJECTION64_PATH) and otherwise turns into a no-op, so this file costs nothing when the
// program is not profiled.
#include "nvtx_annotate.h"

#include <nvtx3/nvToolsExt.h>
#include <nvtx3/nvToolsExtMem.h>

#include <cstdio>

namespace tidemark::train {

ScopedRange::ScopedRange(const char* name)
{
    nvtxRangePushA(name);
}

ScopedRange::ScopedRange(const char* prefix, long long index)
{
    char text[64];
    std::snprintf(text, sizeof text, "%s %lld", prefix, index);
    nvtxRangePushA(text);
}

ScopedRange::~ScopedRange()
{
    nvtxRangePop();
}

MemoryAnnotator::MemoryAnnotator()
    : m_domain(nvtxDomainCreateA("tidemark-train"))
{
}

void* MemoryAnnotator::registerHeap(void* ptr, size_t bytes, const char* name)
{
    nvtxMemVirtualRangeDesc_t range {};
    range.size = bytes;
    range.ptr = ptr;
    nvtxMemHeapDesc_t desc {};
    desc.extCompatID = NVTX_EXT_COMPATID_MEM;
    desc.structSize = sizeof desc;
    desc.usage = NVTX_MEM_HEAP_USAGE_TYPE_SUB_ALLOCATOR;
    desc.type = NVTX_MEM_TYPE_VIRTUAL_ADDRESS;
    desc.typeSpecificDescSize = sizeof range;
    desc.typeSpecificDesc = &range;
    desc.messageType = NVTX_MESSAGE_TYPE_ASCII;
    desc.message.ascii = name;
    return nvtxMemHeapRegister(static_cast<nvtxDomainHandle_t>(m_domain), &desc);
}

void MemoryAnnotator::unregisterHeap(void* heap)
{
    nvtxMemHeapUnregister(static_cast<nvtxDomainHandle_t>(m_domain), static_cast<nvtxMemHeapHandle_t>(heap));
}

void MemoryAnnotator::registerRegion(void* heap, void* ptr, size_t bytes, const char* name)
{
    nvtxMemVirtualRangeDesc_t range {};
    range.size = bytes;
    range.ptr = ptr;
    nvtxMemRegionsRegisterBatch_t batch {};
    batch.extCompatID = NVTX_EXT_COMPATID_MEM;
    batch.structSize = sizeof batch;
    batch.regionType = NVTX_MEM_TYPE_VIRTUAL_ADDRESS;
    batch.heap = static_cast<nvtxMemHeapHandle_t>(heap);
    batch.regionCount = 1;
    batch.regionDescElementSize = sizeof range;
    batch.regionDescElements = &range;
    batch.regionHandleElementsOut = nullptr;
    const auto domain = static_cast<nvtxDomainHandle_t>(m_domain);
    nvtxMemRegionsRegister(domain, &batch);

    nvtxMemRegionNameDesc_t label {};
    label.regionRefType = NVTX_MEM_REGION_REF_TYPE_POINTER;
    label.nameType = NVTX_MESSAGE_TYPE_ASCII;
    label.region.pointer = ptr;
    label.name.ascii = name;
    nvtxMemRegionsNameBatch_t names {};
    names.extCompatID = NVTX_EXT_COMPATID_MEM;
    names.structSize = sizeof names;
    names.regionCount = 1;
    names.regionElementSize = sizeof label;
    names.regionElements = &label;
    nvtxMemRegionsName(domain, &names);
}

void MemoryAnnotator::unregisterRegion(void* ptr)
{
    nvtxMemRegionRef_t ref {};
    ref.pointer = ptr;
    nvtxMemRegionsUnregisterBatch_t batch {};
    batch.extCompatID = NVTX_EXT_COMPATID_MEM;
    batch.structSize = sizeof batch;
    batch.refType = NVTX_MEM_REGION_REF_TYPE_POINTER;
    batch.refCount = 1;
    batch.refElementSize = sizeof ref;
    batch.refElements = &ref;
    nvtxMemRegionsUnregister(static_cast<nvtxDomainHandle_t>(m_domain), &batch);
}

} // namespace tidemark::train
