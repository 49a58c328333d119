// Handlers of the NVTX memory extension (nvtx3/nvToolsExtMem.h): heaps a caching allocator
// registers become HeapRegister records (pool segments), regions inside them RegionRegister and
// RegionEvent records (sub-allocations: register, resize, unregister, name). Region handles we hand
// out are the region's start address, so unregistering by handle or by pointer is the same thing.
#include "interposer/emit.h"
#include "interposer/nvtx_internal.h"

#include <cstddef>

namespace tidemark::interposer::nvtx {

namespace {

    // The writer drops the leading libtidemark.so frames (these handlers); 1 keeps the first frame of
    // the caller, which may be NVTX's inline wrapper compiled into the caller's own library.
    constexpr unsigned kStackSkip = 1;

    uint32_t heapIdOf(nvtxMemHeapHandle_t heap) noexcept
    {
        return static_cast<uint32_t>(reinterpret_cast<uintptr_t>(heap));
    }

    // Batches start with {extCompatID, structSize}; anything else is from an incompatible NVTX.
    template <typename Batch> bool compatible(const Batch* b) noexcept
    {
        return b && b->extCompatID == NVTX_EXT_COMPATID_MEM && b->structSize >= sizeof(Batch);
    }

    void emitRegionEvent(wire::Kind kind, uint64_t address, uint64_t size, uint32_t nameId) noexcept
    {
        wire::RegionEventRecord r {};
        r.h.kind = static_cast<uint16_t>(kind);
        r.h.size_bytes = sizeof(r);
        r.heap_id = 0; // region events name the region by address; the collector finds its heap
        r.ts_ns = nowNs();
        r.address = address;
        r.size = size;
        r.name_id = nameId;
        emit(&r, sizeof(r));
    }

    void emitHeapEvent(wire::Kind kind, nvtxMemHeapHandle_t heap) noexcept
    {
        wire::HeapEventRecord r {};
        r.h.kind = static_cast<uint16_t>(kind);
        r.h.size_bytes = sizeof(r);
        r.heap_id = heapIdOf(heap);
        r.ts_ns = nowNs();
        emit(&r, sizeof(r));
    }

    uint64_t refAddress(uint32_t refType, const nvtxMemRegionRef_t& ref) noexcept
    {
        // Our handles are region start addresses, so both reference kinds carry the address.
        if (refType == NVTX_MEM_REGION_REF_TYPE_POINTER)
            return reinterpret_cast<uint64_t>(ref.pointer);
        if (refType == NVTX_MEM_REGION_REF_TYPE_HANDLE)
            return reinterpret_cast<uint64_t>(ref.handle);
        return 0;
    }

    nvtxMemHeapHandle_t heapRegister(nvtxDomainHandle_t domain, const nvtxMemHeapDesc_t* desc)
    {
        if (!desc || desc->extCompatID != NVTX_EXT_COMPATID_MEM)
            return reinterpret_cast<nvtxMemHeapHandle_t>(static_cast<intptr_t>(-1)); // NVTX_MEM_HEAP_HANDLE_NO_TOOL
        wire::HeapRegisterRecord r {};
        r.h.kind = static_cast<uint16_t>(wire::Kind::HeapRegister);
        r.h.size_bytes = sizeof(r);
        r.usage = static_cast<uint16_t>(desc->usage);
        r.heap_id = nextObjectId();
        r.domain_id = domainStringId(domain);
        r.name_id = messageStringId(static_cast<int32_t>(desc->messageType), desc->message);
        r.ts_ns = nowNs();
        if (desc->type == NVTX_MEM_TYPE_VIRTUAL_ADDRESS && desc->typeSpecificDesc
            && desc->typeSpecificDescSize >= sizeof(nvtxMemVirtualRangeDesc_t)) {
            auto* range = static_cast<const nvtxMemVirtualRangeDesc_t*>(desc->typeSpecificDesc);
            r.address = reinterpret_cast<uint64_t>(range->ptr);
            r.size = range->size;
        }
        r.stack_id = captureStack(kStackSkip);
        r.range_id = currentRangeId();
        emit(&r, sizeof(r));
        return reinterpret_cast<nvtxMemHeapHandle_t>(static_cast<uintptr_t>(r.heap_id));
    }

    void heapUnregister(nvtxDomainHandle_t, nvtxMemHeapHandle_t heap)
    {
        if (heap != NVTX_MEM_HEAP_HANDLE_PROCESS_WIDE)
            emitHeapEvent(wire::Kind::HeapUnregister, heap);
    }

    void heapReset(nvtxDomainHandle_t, nvtxMemHeapHandle_t heap)
    {
        emitHeapEvent(wire::Kind::HeapReset, heap);
    }

    void regionsRegister(nvtxDomainHandle_t, const nvtxMemRegionsRegisterBatch_t* b)
    {
        if (!compatible(b) || b->regionType != NVTX_MEM_TYPE_VIRTUAL_ADDRESS || !b->regionDescElements
            || b->regionDescElementSize < sizeof(nvtxMemVirtualRangeDesc_t))
            return;
        auto* base = static_cast<const unsigned char*>(b->regionDescElements);
        wire::RegionRegisterRecord r {};
        r.h.kind = static_cast<uint16_t>(wire::Kind::RegionRegister);
        r.h.size_bytes = sizeof(r);
        r.heap_id = heapIdOf(b->heap);
        r.stack_id = captureStack(kStackSkip); // one call site for the whole batch
        r.range_id = currentRangeId();
        for (size_t i = 0; i < b->regionCount; ++i) {
            auto* d = reinterpret_cast<const nvtxMemVirtualRangeDesc_t*>(base + i * b->regionDescElementSize);
            r.ts_ns = nowNs();
            r.address = reinterpret_cast<uint64_t>(d->ptr);
            r.size = d->size;
            emit(&r, sizeof(r));
            if (b->regionHandleElementsOut)
                b->regionHandleElementsOut[i] = reinterpret_cast<nvtxMemRegionHandle_t>(const_cast<void*>(d->ptr));
        }
    }

    void regionsResize(nvtxDomainHandle_t, const nvtxMemRegionsResizeBatch_t* b)
    {
        if (!compatible(b) || b->regionType != NVTX_MEM_TYPE_VIRTUAL_ADDRESS || !b->regionDescElements
            || b->regionDescElementSize < sizeof(nvtxMemVirtualRangeDesc_t))
            return;
        auto* base = static_cast<const unsigned char*>(b->regionDescElements);
        for (size_t i = 0; i < b->regionDescCount; ++i) {
            auto* d = reinterpret_cast<const nvtxMemVirtualRangeDesc_t*>(base + i * b->regionDescElementSize);
            emitRegionEvent(wire::Kind::RegionResize, reinterpret_cast<uint64_t>(d->ptr), d->size, 0);
        }
    }

    void regionsUnregister(nvtxDomainHandle_t, const nvtxMemRegionsUnregisterBatch_t* b)
    {
        if (!compatible(b) || !b->refElements || b->refElementSize < sizeof(nvtxMemRegionRef_t))
            return;
        auto* base = reinterpret_cast<const unsigned char*>(b->refElements);
        for (size_t i = 0; i < b->refCount; ++i) {
            auto* ref = reinterpret_cast<const nvtxMemRegionRef_t*>(base + i * b->refElementSize);
            if (uint64_t address = refAddress(b->refType, *ref))
                emitRegionEvent(wire::Kind::RegionUnregister, address, 0, 0);
        }
    }

    void regionsName(nvtxDomainHandle_t, const nvtxMemRegionsNameBatch_t* b)
    {
        if (!compatible(b) || !b->regionElements || b->regionElementSize < sizeof(nvtxMemRegionNameDesc_t))
            return;
        auto* base = reinterpret_cast<const unsigned char*>(b->regionElements);
        for (size_t i = 0; i < b->regionCount; ++i) {
            auto* d = reinterpret_cast<const nvtxMemRegionNameDesc_t*>(base + i * b->regionElementSize);
            uint64_t address = refAddress(d->regionRefType, d->region);
            if (address)
                emitRegionEvent(
                    wire::Kind::RegionName, address, 0, messageStringId(static_cast<int32_t>(d->nameType), d->name));
        }
    }

    template <typename Fn> unsigned setSlot(nvtxExtModuleSegment_t& segment, unsigned cbid, Fn fn) noexcept
    {
        if (cbid >= segment.slotCount || !segment.functionSlots)
            return 0;
        segment.functionSlots[cbid] = reinterpret_cast<intptr_t>(fn);
        return 1;
    }

} // namespace

unsigned installMem(nvtxExtModuleInfo_t* info) noexcept
{
    unsigned filled = 0;
    for (size_t s = 0; s < info->segmentsCount && info->segments; ++s) {
        nvtxExtModuleSegment_t& seg = info->segments[s];
        filled += setSlot(seg, NVTX3EXT_CBID_nvtxMemHeapRegister, &heapRegister);
        filled += setSlot(seg, NVTX3EXT_CBID_nvtxMemHeapUnregister, &heapUnregister);
        filled += setSlot(seg, NVTX3EXT_CBID_nvtxMemHeapReset, &heapReset);
        filled += setSlot(seg, NVTX3EXT_CBID_nvtxMemRegionsRegister, &regionsRegister);
        filled += setSlot(seg, NVTX3EXT_CBID_nvtxMemRegionsResize, &regionsResize);
        filled += setSlot(seg, NVTX3EXT_CBID_nvtxMemRegionsUnregister, &regionsUnregister);
        filled += setSlot(seg, NVTX3EXT_CBID_nvtxMemRegionsName, &regionsName);
    }
    return filled;
}

} // namespace tidemark::interposer::nvtx
