// NVTX CORE and CORE2 handlers: push/pop and start/end ranges, marks, domains, registered strings
// and thread names become RangeBegin/RangeEnd/Mark/ThreadName records. Each thread keeps its push
// stack in POD initial-exec TLS and publishes the innermost range through setCurrentRangeId, so
// every allocation the thread makes carries its training phase.
#include "interposer/emit.h"
#include "interposer/nvtx_internal.h"

#include <atomic>
#include <cstddef>
#include <cstring>

namespace tidemark::interposer::nvtx {

namespace {

    constexpr unsigned kMaxDepth = 64; // deeper pushes are recorded but not tracked as the phase

    struct StackEntry {
        uint32_t rangeId;
        uint32_t domainKey; // the domain handle's table index, 0 = default domain
    };

    struct ThreadRanges {
        unsigned depth; // entries in use
        unsigned overflow; // pushes beyond kMaxDepth not yet popped
        StackEntry entries[kMaxDepth];
    };

    __attribute__((tls_model("initial-exec"))) thread_local ThreadRanges t_ranges;
    std::atomic<uint64_t> g_overflowed { 0 };

    uint32_t keyOf(nvtxDomainHandle_t domain) noexcept
    {
        return static_cast<uint32_t>(reinterpret_cast<uintptr_t>(domain));
    }

    uint32_t topRangeId() noexcept
    {
        return t_ranges.depth ? t_ranges.entries[t_ranges.depth - 1].rangeId : 0;
    }

    struct Attributes {
        uint32_t nameId = 0;
        uint32_t category = 0;
        uint32_t color = 0;
    };

    Attributes readAttributes(const nvtxEventAttributes_t* attr) noexcept
    {
        Attributes out;
        // Versions 1 and 2 share the fields read here; a struct too small to hold them is ignored.
        if (!attr || attr->size < offsetof(nvtxEventAttributes_t, message) + sizeof(attr->message))
            return out;
        out.nameId = messageStringId(attr->messageType, attr->message);
        out.category = attr->category;
        if (attr->colorType == NVTX_COLOR_ARGB)
            out.color = attr->color;
        return out;
    }

    uint32_t beginRange(wire::RangeKind kind, nvtxDomainHandle_t domain, const Attributes& a) noexcept
    {
        return emitRangeBegin({ kind, topRangeId(), domainStringId(domain), a.nameId, a.category, a.color });
    }

    int push(nvtxDomainHandle_t domain, const Attributes& a) noexcept
    {
        uint32_t id = beginRange(wire::RangeKind::Push, domain, a);
        ThreadRanges& t = t_ranges;
        if (t.depth == kMaxDepth) {
            if (t.overflow++ == 0 && g_overflowed.fetch_add(1, std::memory_order_relaxed) == 0)
                emitStat(wire::StatSource::Nvtx, "nvtx.range_stack_overflow", kMaxDepth,
                    "ranges nested deeper than this are recorded but allocations keep the outer phase");
            emitRangeEnd(id); // cannot be popped by id later; close it at once so it never dangles
            return static_cast<int>(kMaxDepth + t.overflow - 1);
        }
        t.entries[t.depth++] = { id, keyOf(domain) };
        setCurrentRangeId(id);
        unsigned level = 0;
        for (unsigned i = 0; i + 1 < t.depth; ++i)
            level += t.entries[i].domainKey == keyOf(domain);
        return static_cast<int>(level);
    }

    int pop(nvtxDomainHandle_t domain) noexcept
    {
        ThreadRanges& t = t_ranges;
        if (t.overflow > 0) {
            --t.overflow;
            return static_cast<int>(kMaxDepth + t.overflow);
        }
        // Each domain has its own stack: end the innermost range of this domain.
        uint32_t key = keyOf(domain);
        for (unsigned i = t.depth; i-- > 0;) {
            if (t.entries[i].domainKey != key)
                continue;
            uint32_t id = t.entries[i].rangeId;
            std::memmove(&t.entries[i], &t.entries[i + 1], (t.depth - i - 1) * sizeof(StackEntry));
            --t.depth;
            emitRangeEnd(id);
            setCurrentRangeId(topRangeId());
            unsigned level = 0;
            for (unsigned j = 0; j < i; ++j)
                level += t.entries[j].domainKey == key;
            return static_cast<int>(level);
        }
        return -1; // nothing open in this domain
    }

    nvtxRangeId_t start(nvtxDomainHandle_t domain, const Attributes& a) noexcept
    {
        return beginRange(wire::RangeKind::StartEnd, domain, a);
    }

    void mark(nvtxDomainHandle_t domain, const Attributes& a) noexcept
    {
        wire::MarkRecord r {};
        r.h.kind = static_cast<uint16_t>(wire::Kind::Mark);
        r.h.size_bytes = sizeof(r);
        r.domain_id = domainStringId(domain);
        r.name_id = a.nameId;
        r.ts_ns = nowNs();
        emit(&r, sizeof(r));
    }

    void nameThread(uint32_t tid, const char* name, size_t len) noexcept
    {
        struct {
            wire::ThreadNameRecord r;
            char text[256];
        } buf {};
        len = len < sizeof(buf.text) ? len : sizeof(buf.text);
        buf.r.h.kind = static_cast<uint16_t>(wire::Kind::ThreadName);
        buf.r.h.size_bytes = static_cast<uint16_t>(wire::padTo8(sizeof(buf.r) + len));
        buf.r.tid = tid;
        buf.r.name_len = static_cast<uint32_t>(len);
        buf.r.ts_ns = nowNs();
        std::memcpy(buf.text, name, len);
        emit(&buf, buf.r.h.size_bytes);
    }

    Attributes named(uint32_t nameId) noexcept
    {
        Attributes a;
        a.nameId = nameId;
        return a;
    }

    // --- CORE handlers (default domain) ---
    void markEx(const nvtxEventAttributes_t* a)
    {
        mark(nullptr, readAttributes(a));
    }
    void markA(const char* m)
    {
        mark(nullptr, named(asciiStringId(m)));
    }
    void markW(const wchar_t* m)
    {
        mark(nullptr, named(wideStringId(m)));
    }
    nvtxRangeId_t rangeStartEx(const nvtxEventAttributes_t* a)
    {
        return start(nullptr, readAttributes(a));
    }
    nvtxRangeId_t rangeStartA(const char* m)
    {
        return start(nullptr, named(asciiStringId(m)));
    }
    nvtxRangeId_t rangeStartW(const wchar_t* m)
    {
        return start(nullptr, named(wideStringId(m)));
    }
    void rangeEnd(nvtxRangeId_t id)
    {
        if (id != 0)
            emitRangeEnd(static_cast<uint32_t>(id));
    }
    int rangePushEx(const nvtxEventAttributes_t* a)
    {
        return push(nullptr, readAttributes(a));
    }
    int rangePushA(const char* m)
    {
        return push(nullptr, named(asciiStringId(m)));
    }
    int rangePushW(const wchar_t* m)
    {
        return push(nullptr, named(wideStringId(m)));
    }
    int rangePop()
    {
        return pop(nullptr);
    }
    void nameOsThreadA(uint32_t tid, const char* name)
    {
        if (name)
            nameThread(tid, name, strnlen(name, 256));
    }
    void nameOsThreadW(uint32_t tid, const wchar_t* name)
    {
        char utf8[256];
        if (name)
            nameThread(tid, utf8, wideToUtf8(name, utf8, sizeof(utf8)));
    }

    // --- CORE2 handlers (explicit domains) ---
    void domainMarkEx(nvtxDomainHandle_t d, const nvtxEventAttributes_t* a)
    {
        mark(d, readAttributes(a));
    }
    nvtxRangeId_t domainRangeStartEx(nvtxDomainHandle_t d, const nvtxEventAttributes_t* a)
    {
        return start(d, readAttributes(a));
    }
    void domainRangeEnd(nvtxDomainHandle_t, nvtxRangeId_t id)
    {
        rangeEnd(id);
    }
    int domainRangePushEx(nvtxDomainHandle_t d, const nvtxEventAttributes_t* a)
    {
        return push(d, readAttributes(a));
    }
    int domainRangePop(nvtxDomainHandle_t d)
    {
        return pop(d);
    }
    nvtxStringHandle_t domainRegisterStringA(nvtxDomainHandle_t, const char* s)
    {
        return registerString(s);
    }
    nvtxStringHandle_t domainRegisterStringW(nvtxDomainHandle_t, const wchar_t* s)
    {
        char utf8[1024];
        if (!s)
            return nullptr;
        wideToUtf8(s, utf8, sizeof(utf8));
        return registerString(utf8);
    }
    nvtxDomainHandle_t domainCreateA(const char* name)
    {
        return createDomain(name);
    }
    nvtxDomainHandle_t domainCreateW(const wchar_t* name)
    {
        char utf8[1024];
        if (!name)
            return nullptr;
        wideToUtf8(name, utf8, sizeof(utf8));
        return createDomain(utf8);
    }
    void domainDestroy(nvtxDomainHandle_t)
    {
    } // handles stay valid: other linkage units may share them

    template <typename Fn> void setSlot(NvtxFunctionTable table, unsigned size, unsigned cbid, Fn fn) noexcept
    {
        if (cbid < size && table[cbid])
            *table[cbid] = reinterpret_cast<NvtxFunctionPointer>(fn);
    }

} // namespace

unsigned threadRangeDepth() noexcept
{
    return t_ranges.depth + t_ranges.overflow;
}

void installCore(NvtxFunctionTable t, unsigned n) noexcept
{
    setSlot(t, n, NVTX_CBID_CORE_MarkEx, &markEx);
    setSlot(t, n, NVTX_CBID_CORE_MarkA, &markA);
    setSlot(t, n, NVTX_CBID_CORE_MarkW, &markW);
    setSlot(t, n, NVTX_CBID_CORE_RangeStartEx, &rangeStartEx);
    setSlot(t, n, NVTX_CBID_CORE_RangeStartA, &rangeStartA);
    setSlot(t, n, NVTX_CBID_CORE_RangeStartW, &rangeStartW);
    setSlot(t, n, NVTX_CBID_CORE_RangeEnd, &rangeEnd);
    setSlot(t, n, NVTX_CBID_CORE_RangePushEx, &rangePushEx);
    setSlot(t, n, NVTX_CBID_CORE_RangePushA, &rangePushA);
    setSlot(t, n, NVTX_CBID_CORE_RangePushW, &rangePushW);
    setSlot(t, n, NVTX_CBID_CORE_RangePop, &rangePop);
    setSlot(t, n, NVTX_CBID_CORE_NameOsThreadA, &nameOsThreadA);
    setSlot(t, n, NVTX_CBID_CORE_NameOsThreadW, &nameOsThreadW);
}

void installCore2(NvtxFunctionTable t, unsigned n) noexcept
{
    setSlot(t, n, NVTX_CBID_CORE2_DomainMarkEx, &domainMarkEx);
    setSlot(t, n, NVTX_CBID_CORE2_DomainRangeStartEx, &domainRangeStartEx);
    setSlot(t, n, NVTX_CBID_CORE2_DomainRangeEnd, &domainRangeEnd);
    setSlot(t, n, NVTX_CBID_CORE2_DomainRangePushEx, &domainRangePushEx);
    setSlot(t, n, NVTX_CBID_CORE2_DomainRangePop, &domainRangePop);
    setSlot(t, n, NVTX_CBID_CORE2_DomainRegisterStringA, &domainRegisterStringA);
    setSlot(t, n, NVTX_CBID_CORE2_DomainRegisterStringW, &domainRegisterStringW);
    setSlot(t, n, NVTX_CBID_CORE2_DomainCreateA, &domainCreateA);
    setSlot(t, n, NVTX_CBID_CORE2_DomainCreateW, &domainCreateW);
    setSlot(t, n, NVTX_CBID_CORE2_DomainDestroy, &domainDestroy);
}

} // namespace tidemark::interposer::nvtx
