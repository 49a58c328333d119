// Range records shared by the NVTX handlers (nvtx_ranges.cpp) and the model phases
// (model_phases.cpp): one place that fills RangeBegin and RangeEnd.
#include "interposer/emit.h"

namespace tidemark::interposer {

uint32_t emitRangeBegin(const RangeStart& s) noexcept
{
    wire::RangeBeginRecord r {};
    r.h.kind = static_cast<uint16_t>(wire::Kind::RangeBegin);
    r.h.size_bytes = sizeof(r);
    r.range_kind = static_cast<uint8_t>(s.kind);
    r.range_id = nextObjectId();
    r.parent_id = s.parentId;
    r.domain_id = s.domainId;
    r.name_id = s.nameId;
    r.category = s.category;
    r.color = s.color;
    r.ts_ns = nowNs();
    emit(&r, sizeof(r));
    return r.range_id;
}

void emitRangeEnd(uint32_t rangeId) noexcept
{
    if (rangeId == 0)
        return;
    wire::RangeEndRecord r {};
    r.h.kind = static_cast<uint16_t>(wire::Kind::RangeEnd);
    r.h.size_bytes = sizeof(r);
    r.range_id = rangeId;
    r.ts_ns = nowNs();
    emit(&r, sizeof(r));
}

} // namespace tidemark::interposer
