// Reading x86-64 DWARF CFI as the loader mapped it (see cfi.h): .eh_frame_hdr's binary-search table,
// one FDE and its CIE, and the CFA program up to an address, tracking only what a return-address
// walk needs (the CFA, rbp and the return address). Formats: the Linux Standard Base's .eh_frame and
// .eh_frame_hdr, DWARF 5 §6.4. Anything it does not understand yields CfaKind::Unknown, never a
// guess dressed up as a rule.
#include "interposer/cfi.h"

#include <cstring>
#include <link.h>

namespace tidemark::interposer::cfi {

namespace {

constexpr unsigned kRegRbp = 6;
constexpr unsigned kRegRsp = 7;
constexpr uint8_t kEncOmit = 0xff;
constexpr uint8_t kEncDatarelSdata4 = 0x3b;

// A bounded cursor over unwind data; any read past the end marks it bad and reads zeros.
struct Cursor {
    const uint8_t* p;
    const uint8_t* end;
    bool bad = false;

    bool has(size_t n) noexcept
    {
        if (bad || size_t(end - p) < n)
            bad = true;
        return !bad;
    }
    template <typename T> T fixed() noexcept
    {
        T v {};
        if (has(sizeof(T))) {
            std::memcpy(&v, p, sizeof(T));
            p += sizeof(T);
        }
        return v;
    }
    uint64_t uleb() noexcept
    {
        uint64_t v = 0;
        for (unsigned shift = 0; has(1); shift += 7) {
            uint8_t b = *p++;
            if (shift < 64)
                v |= uint64_t(b & 0x7f) << shift;
            if (!(b & 0x80))
                return v;
        }
        return 0;
    }
    int64_t sleb() noexcept
    {
        uint64_t v = 0;
        unsigned shift = 0;
        uint8_t b = 0;
        do {
            if (!has(1))
                return 0;
            b = *p++;
            if (shift < 64)
                v |= uint64_t(b & 0x7f) << shift;
            shift += 7;
        } while (b & 0x80);
        if (shift < 64 && (b & 0x40))
            v |= ~uint64_t(0) << shift;
        return int64_t(v);
    }
    // A pointer in the given DW_EH_PE encoding; datarel is relative to .eh_frame_hdr.
    uintptr_t encoded(uint8_t enc, uintptr_t datarel) noexcept
    {
        if (enc == kEncOmit)
            return 0;
        auto at = reinterpret_cast<uintptr_t>(p);
        uint64_t v = 0;
        switch (enc & 0x0f) {
        case 0x00: v = fixed<uint64_t>(); break;
        case 0x01: v = uleb(); break;
        case 0x02: v = fixed<uint16_t>(); break;
        case 0x03: v = fixed<uint32_t>(); break;
        case 0x04: v = fixed<uint64_t>(); break;
        case 0x09: v = uint64_t(sleb()); break;
        case 0x0a: v = uint64_t(int64_t(fixed<int16_t>())); break;
        case 0x0b: v = uint64_t(int64_t(fixed<int32_t>())); break;
        case 0x0c: v = fixed<uint64_t>(); break;
        default: bad = true; return 0;
        }
        switch (enc & 0x70) {
        case 0x00: break;
        case 0x10: v += at; break;      // pcrel
        case 0x30: v += datarel; break; // datarel
        default: bad = true; return 0;  // textrel, funcrel, aligned: not used on x86-64 Linux
        }
        if ((enc & 0x80) && v) { // indirect: the value is the address of the pointer
            uintptr_t target = 0;
            std::memcpy(&target, reinterpret_cast<const void*>(v), sizeof(target));
            v = target;
        }
        return uintptr_t(v);
    }
};

// One length-prefixed .eh_frame entry (CIE or FDE): body after the length, end of the entry.
bool entryAt(uintptr_t at, const uint8_t** body, const uint8_t** end) noexcept
{
    auto p = reinterpret_cast<const uint8_t*>(at);
    uint32_t len32 = 0;
    std::memcpy(&len32, p, 4);
    p += 4;
    uint64_t len = len32;
    if (len32 == 0xffffffffu) {
        std::memcpy(&len, p, 8);
        p += 8;
    }
    if (len == 0 || len > (uint64_t(1) << 30))
        return false;
    *body = p;
    *end = p + len;
    return true;
}

enum class RaKind : uint8_t { Offset, Undefined, Unknown };

struct RegState {
    unsigned cfaReg = kRegRsp;
    int64_t cfaOffset = 8;
    bool cfaDeref = false;   // CFA = *(rbp + cfaOffset)
    bool cfaUnknown = false; // an expression or register this walker does not follow
    RbpKind rbp = RbpKind::Same;
    int64_t rbpOffset = 0;
    RaKind ra = RaKind::Unknown;
    int64_t raOffset = 0;
};

struct Cie {
    uint64_t codeAlign = 1;
    int64_t dataAlign = -8;
    unsigned raReg = 16;
    uint8_t fdeEncoding = 0;
    bool augmentationData = false; // 'z': FDEs carry an augmentation length
    bool signalFrame = false;      // 'S'
    const uint8_t* instructions = nullptr;
    const uint8_t* end = nullptr;
};

bool parseCie(const uint8_t* body, const uint8_t* end, uintptr_t hdr, Cie* cie) noexcept
{
    Cursor c { body, end };
    if (c.fixed<uint32_t>() != 0) // a CIE's id is 0 in .eh_frame
        return false;
    uint8_t version = c.fixed<uint8_t>();
    if (version != 1 && version != 3 && version != 4)
        return false;
    const char* aug = reinterpret_cast<const char*>(c.p);
    size_t augLen = strnlen(aug, size_t(end - c.p));
    if (!c.has(augLen + 1))
        return false;
    c.p += augLen + 1;
    if (version == 4) {
        if (c.fixed<uint8_t>() != 8) // address size
            return false;
        c.fixed<uint8_t>(); // segment selector size
    }
    cie->codeAlign = c.uleb();
    cie->dataAlign = c.sleb();
    cie->raReg = version == 1 ? c.fixed<uint8_t>() : unsigned(c.uleb());
    if (augLen && aug[0] == 'z') {
        cie->augmentationData = true;
        uint64_t dataLen = c.uleb();
        if (!c.has(dataLen))
            return false;
        Cursor data { c.p, c.p + dataLen };
        for (size_t i = 1; i < augLen && !data.bad; ++i) {
            switch (aug[i]) {
            case 'R': cie->fdeEncoding = data.fixed<uint8_t>(); break;
            case 'L': data.fixed<uint8_t>(); break;
            case 'P': {
                uint8_t enc = data.fixed<uint8_t>();
                // The personality pointer itself is not needed; an indirect one must not be chased.
                data.encoded(uint8_t(enc & 0x7f), hdr);
                break;
            }
            case 'S': cie->signalFrame = true; break;
            default: i = augLen; break; // unknown letters: the length lets us skip the rest
            }
        }
        c.p += dataLen;
    } else if (augLen) {
        return false; // pre-'z' augmentations ("eh") are not produced by any current toolchain
    }
    if (c.bad)
        return false;
    cie->instructions = c.p;
    cie->end = end;
    return true;
}

// Runs CFA instructions from [p, end) whose rows start at loc, stopping before the first row that
// begins after pc. initial is the CIE's state (for DW_CFA_restore); null while running the CIE.
bool execute(Cursor c, const Cie& cie, uintptr_t loc, uintptr_t pc, uintptr_t hdr, RegState& s,
    const RegState* initial) noexcept
{
    RegState stack[8];
    unsigned depth = 0;
    auto setOffset = [&](uint64_t reg, int64_t off) {
        if (reg == kRegRbp) {
            s.rbp = RbpKind::Saved;
            s.rbpOffset = off;
        } else if (reg == cie.raReg) {
            s.ra = RaKind::Offset;
            s.raOffset = off;
        }
    };
    auto setLost = [&](uint64_t reg) {
        if (reg == kRegRbp)
            s.rbp = RbpKind::Unknown;
        else if (reg == cie.raReg)
            s.ra = RaKind::Unknown;
    };
    auto restore = [&](uint64_t reg) {
        if (!initial)
            return setLost(reg);
        if (reg == kRegRbp) {
            s.rbp = initial->rbp;
            s.rbpOffset = initial->rbpOffset;
        } else if (reg == cie.raReg) {
            s.ra = initial->ra;
            s.raOffset = initial->raOffset;
        }
    };
    auto advance = [&](uint64_t delta) { // false: the new row starts past pc
        loc += delta * cie.codeAlign;
        return loc <= pc;
    };
    while (c.p < c.end && !c.bad) {
        uint8_t op = *c.p++;
        uint8_t low = op & 0x3f;
        switch (op >> 6) {
        case 1:
            if (!advance(low))
                return true;
            continue;
        case 2: setOffset(low, int64_t(c.uleb()) * cie.dataAlign); continue;
        case 3: restore(low); continue;
        default: break;
        }
        switch (op) {
        case 0x00: break; // nop
        case 0x01: {      // set_loc
            uintptr_t to = c.encoded(cie.fdeEncoding, hdr);
            if (to > pc)
                return true;
            loc = to;
            break;
        }
        case 0x02:
            if (!advance(c.fixed<uint8_t>()))
                return true;
            break;
        case 0x03:
            if (!advance(c.fixed<uint16_t>()))
                return true;
            break;
        case 0x04:
            if (!advance(c.fixed<uint32_t>()))
                return true;
            break;
        case 0x05: { // offset_extended
            uint64_t reg = c.uleb();
            setOffset(reg, int64_t(c.uleb()) * cie.dataAlign);
            break;
        }
        case 0x06: restore(c.uleb()); break;
        case 0x07: { // undefined
            uint64_t reg = c.uleb();
            if (reg == cie.raReg)
                s.ra = RaKind::Undefined;
            else
                setLost(reg);
            break;
        }
        case 0x08: { // same_value
            uint64_t reg = c.uleb();
            if (reg == kRegRbp)
                s.rbp = RbpKind::Same;
            else
                setLost(reg);
            break;
        }
        case 0x09: // register: the value lives in another register we do not track
            setLost(c.uleb());
            c.uleb();
            break;
        case 0x0a:
            if (depth == 8)
                return false;
            stack[depth++] = s;
            break;
        case 0x0b:
            if (depth == 0)
                return false;
            s = stack[--depth];
            break;
        case 0x0c: // def_cfa
            s.cfaReg = unsigned(c.uleb());
            s.cfaOffset = int64_t(c.uleb());
            s.cfaDeref = s.cfaUnknown = false;
            break;
        case 0x0d: // def_cfa_register
            s.cfaReg = unsigned(c.uleb());
            s.cfaDeref = s.cfaUnknown = false;
            break;
        case 0x0e: s.cfaOffset = int64_t(c.uleb()); break;
        case 0x0f: { // def_cfa_expression: only GCC's DRAP form, DW_OP_breg6 off; DW_OP_deref
            uint64_t len = c.uleb();
            if (!c.has(len))
                return false;
            Cursor e { c.p, c.p + len };
            c.p += len;
            bool drap = e.fixed<uint8_t>() == 0x76;
            int64_t off = drap ? e.sleb() : 0;
            drap = drap && e.fixed<uint8_t>() == 0x06 && e.p == e.end && !e.bad;
            s.cfaReg = kRegRbp;
            s.cfaOffset = off;
            s.cfaDeref = drap;
            s.cfaUnknown = !drap;
            break;
        }
        case 0x10: { // expression: the register's save slot is computed
            uint64_t reg = c.uleb();
            uint64_t len = c.uleb();
            if (!c.has(len))
                return false;
            Cursor e { c.p, c.p + len };
            c.p += len;
            // GCC's realigned frames save rbp at rbp + off (DW_OP_breg6 off); other forms are lost.
            bool atRbp = reg == kRegRbp && e.fixed<uint8_t>() == 0x76;
            int64_t off = atRbp ? e.sleb() : 0;
            if (atRbp && e.p == e.end && !e.bad) {
                s.rbp = RbpKind::AtRbp;
                s.rbpOffset = off;
            } else {
                setLost(reg);
            }
            break;
        }
        case 0x11: { // offset_extended_sf
            uint64_t reg = c.uleb();
            setOffset(reg, c.sleb() * cie.dataAlign);
            break;
        }
        case 0x12: // def_cfa_sf
            s.cfaReg = unsigned(c.uleb());
            s.cfaOffset = c.sleb() * cie.dataAlign;
            s.cfaDeref = s.cfaUnknown = false;
            break;
        case 0x13: s.cfaOffset = c.sleb() * cie.dataAlign; break;
        case 0x14: // val_offset
            setLost(c.uleb());
            c.uleb();
            break;
        case 0x15: // val_offset_sf
            setLost(c.uleb());
            c.sleb();
            break;
        case 0x16: { // val_expression
            setLost(c.uleb());
            uint64_t len = c.uleb();
            if (!c.has(len))
                return false;
            c.p += len;
            break;
        }
        case 0x2e: c.uleb(); break; // GNU_args_size: only matters for landing pads
        case 0x2f: { // GNU_negative_offset_extended
            uint64_t reg = c.uleb();
            setOffset(reg, -int64_t(c.uleb()) * cie.dataAlign);
            break;
        }
        default: return false; // vendor ops we do not know: no rule rather than a wrong one
        }
    }
    return !c.bad;
}

struct FindContext {
    uintptr_t pc;
    Module* out;
    bool found;
};

int findModuleCallback(dl_phdr_info* info, size_t, void* data) noexcept
{
    auto* ctx = static_cast<FindContext*>(data);
    uintptr_t lo = ~uintptr_t(0), hi = 0;
    const ElfW(Phdr)* ehHdr = nullptr;
    for (int i = 0; i < info->dlpi_phnum; ++i) {
        const ElfW(Phdr)& ph = info->dlpi_phdr[i];
        if (ph.p_type == PT_LOAD) {
            uintptr_t s = info->dlpi_addr + ph.p_vaddr;
            lo = s < lo ? s : lo;
            hi = s + ph.p_memsz > hi ? s + ph.p_memsz : hi;
        } else if (ph.p_type == PT_GNU_EH_FRAME) {
            ehHdr = &ph;
        }
    }
    if (ctx->pc < lo || ctx->pc >= hi)
        return 0;
    Module m;
    m.lo = lo;
    m.hi = hi;
    if (ehHdr && ehHdr->p_memsz >= 12) {
        uintptr_t hdr = info->dlpi_addr + ehHdr->p_vaddr;
        Cursor c { reinterpret_cast<const uint8_t*>(hdr), reinterpret_cast<const uint8_t*>(hdr + ehHdr->p_memsz) };
        uint8_t version = c.fixed<uint8_t>();
        uint8_t framePtrEnc = c.fixed<uint8_t>();
        uint8_t countEnc = c.fixed<uint8_t>();
        uint8_t tableEnc = c.fixed<uint8_t>();
        c.encoded(framePtrEnc, hdr);
        uintptr_t count = c.encoded(countEnc, hdr);
        // Every linker in use writes the table as datarel sdata4 pairs; anything else is left
        // without rules (the walker then falls back to the rbp chain for this module).
        if (!c.bad && version == 1 && tableEnc == kEncDatarelSdata4 && count < (uintptr_t(1) << 28)
            && size_t(c.end - c.p) >= count * 8) {
            m.table = c.p;
            m.count = uint32_t(count);
            m.hdr = hdr;
        }
    }
    *ctx->out = m;
    ctx->found = true;
    return 1;
}

} // namespace

bool findModule(uintptr_t pc, Module* out) noexcept
{
    FindContext ctx { pc, out, false };
    dl_iterate_phdr(findModuleCallback, &ctx);
    return ctx.found;
}

Rule findRule(const Module& m, uintptr_t pc) noexcept
{
    Rule rule;
    if (!m.table) {
        rule.cfa = CfaKind::FramePointer;
        return rule;
    }
    // The last table entry whose initial location is at or below pc.
    uint32_t lo = 0, hi = m.count;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int32_t loc = 0;
        std::memcpy(&loc, m.table + size_t(mid) * 8, 4);
        if (m.hdr + intptr_t(loc) <= pc)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0)
        return rule;
    int32_t fdeRel = 0;
    std::memcpy(&fdeRel, m.table + size_t(lo - 1) * 8 + 4, 4);
    const uint8_t* body = nullptr;
    const uint8_t* end = nullptr;
    if (!entryAt(m.hdr + intptr_t(fdeRel), &body, &end))
        return rule;
    uint32_t ciePointer = 0;
    std::memcpy(&ciePointer, body, 4);
    if (ciePointer == 0) // that is a CIE, not an FDE: a corrupt table
        return rule;
    const uint8_t* cieBody = nullptr;
    const uint8_t* cieEnd = nullptr;
    Cie cie;
    if (!entryAt(reinterpret_cast<uintptr_t>(body) - ciePointer, &cieBody, &cieEnd)
        || !parseCie(cieBody, cieEnd, m.hdr, &cie))
        return rule;
    Cursor c { body + 4, end };
    uintptr_t begin = c.encoded(cie.fdeEncoding, m.hdr);
    uintptr_t range = c.encoded(uint8_t(cie.fdeEncoding & 0x0f), 0);
    if (cie.augmentationData) {
        uint64_t len = c.uleb();
        if (c.has(len))
            c.p += len;
    }
    if (c.bad || pc < begin || pc - begin >= range)
        return rule; // in a gap between FDEs: code without unwind information
    if (cie.signalFrame) {
        rule.cfa = CfaKind::Signal;
        return rule;
    }
    RegState s;
    if (!execute(Cursor { cie.instructions, cie.end }, cie, begin, ~uintptr_t(0), m.hdr, s, nullptr))
        return rule;
    RegState initial = s;
    if (!execute(c, cie, begin, pc, m.hdr, s, &initial))
        return rule;
    if (s.ra == RaKind::Undefined) {
        rule.cfa = CfaKind::End;
        return rule;
    }
    bool fits = s.ra == RaKind::Offset && s.raOffset >= -128 && s.raOffset < 128 && !s.cfaUnknown
        && s.cfaOffset >= INT32_MIN && s.cfaOffset <= INT32_MAX
        && ((s.rbp != RbpKind::Saved && s.rbp != RbpKind::AtRbp) || (s.rbpOffset >= INT16_MIN && s.rbpOffset <= INT16_MAX));
    if (!fits || (s.cfaReg != kRegRsp && s.cfaReg != kRegRbp) || (s.cfaDeref && s.cfaReg != kRegRbp))
        return rule;
    rule.cfa = s.cfaDeref ? CfaKind::DerefRbp : s.cfaReg == kRegRsp ? CfaKind::Rsp : CfaKind::Rbp;
    rule.cfaOffset = int32_t(s.cfaOffset);
    rule.raOffset = int8_t(s.raOffset);
    rule.rbp = s.rbp;
    rule.rbpOffset = int16_t(s.rbp == RbpKind::Saved || s.rbp == RbpKind::AtRbp ? s.rbpOffset : 0);
    return rule;
}

} // namespace tidemark::interposer::cfi
