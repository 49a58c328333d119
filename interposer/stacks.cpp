// Call-stack capture for allocation events, by one of three walkers: our DWARF CFI walk (default;
// rules from the modules' .eh_frame, cfi.cpp), a bounds-checked frame-pointer walk, or libunwind
// (dlopen'ed with RTLD_LOCAL so its exported `backtrace` never replaces glibc's in the target). The
// CFI and frame-pointer walks stop at the first frame equal to one of the thread's previous stack
// and check the rest instead of walking it. Then per-thread dedupe, so a Stack record goes out once.
#include "interposer/runtime.h"

#include <csignal>
#include <cstdio>
#include <cstring>
#include <dlfcn.h>
#include <emmintrin.h>
#include <link.h>
#include <new>
#include <ucontext.h>

namespace tidemark::interposer {

std::atomic<uint32_t> g_cfiEpoch { 0 };

namespace {

std::atomic<uint32_t> g_nextStackId { 1 };
uintptr_t g_selfLo = 0;
uintptr_t g_selfHi = 0;

using UnwBacktraceFn = int (*)(void**, int);
UnwBacktraceFn g_unwBacktrace = nullptr;

constexpr uint64_t kMulA = 0x9E3779B97F4A7C15ull;
constexpr uint64_t kMulB = 0xC2B2AE3D27D4EB4Full;

// Our own text range, so the walkers can drop the hook frames whatever the inlining did.
int findSelf(dl_phdr_info* info, size_t, void* data) noexcept
{
    auto probe = reinterpret_cast<uintptr_t>(data);
    uintptr_t lo = ~uintptr_t(0), hi = 0;
    for (int i = 0; i < info->dlpi_phnum; ++i) {
        const ElfW(Phdr)& ph = info->dlpi_phdr[i];
        if (ph.p_type != PT_LOAD)
            continue;
        uintptr_t s = info->dlpi_addr + ph.p_vaddr;
        lo = s < lo ? s : lo;
        hi = s + ph.p_memsz > hi ? s + ph.p_memsz : hi;
    }
    if (probe >= lo && probe < hi) {
        g_selfLo = lo;
        g_selfHi = hi;
        return 1;
    }
    return 0;
}

bool loadLibunwind() noexcept
{
    ReentryGuard guard;
    void* h = dlopen("libunwind.so.8", RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        log(LogLevel::Warn, "TIDEMARK_UNWIND=libunwind: libunwind.so.8 not found; using the CFI walker");
        return false;
    }
    // UNW_CACHE_PER_THREAD (2): the global cache serialises threads (perf-anchors.md).
    using SetPolicyFn = int (*)(void*, int);
    using SetCacheSizeFn = int (*)(void*, size_t, int);
    auto space = static_cast<void**>(dlsym(h, "_ULx86_64_local_addr_space"));
    auto setPolicy = reinterpret_cast<SetPolicyFn>(dlsym(h, "_ULx86_64_set_caching_policy"));
    auto setSize = reinterpret_cast<SetCacheSizeFn>(dlsym(h, "_ULx86_64_set_cache_size"));
    g_unwBacktrace = reinterpret_cast<UnwBacktraceFn>(dlsym(h, "unw_backtrace"));
    if (!space || !setPolicy || !g_unwBacktrace) {
        log(LogLevel::Warn, "TIDEMARK_UNWIND=libunwind: libunwind lacks unw_backtrace; using the CFI walker");
        g_unwBacktrace = nullptr;
        return false;
    }
    setPolicy(*space, 2);
    if (setSize)
        setSize(*space, 1024, 0);
    return true;
}

// Hash of a frame-pointer stack: a sum over its frames of a mix of (return address, distance of the
// frame from the stack top), so the sum of the frames above any frame can be kept per cache slot
// and a capture that reuses them adds only its new frames. Equal stacks at equal frame offsets hash
// equal; the same return addresses at other offsets (rare) only cost a duplicate Stack record.
inline uint64_t frameMix(uint64_t ip, uint64_t offset) noexcept
{
    uint64_t x = ip * kMulA + offset;
    x ^= x >> 29;
    x *= kMulB;
    return x ^ (x >> 32);
}

inline uint64_t finishHash(uint64_t sum, unsigned n) noexcept
{
    uint64_t h = (sum ^ uint64_t(n) * kMulA) * kMulB;
    h ^= h >> 32;
    return h ? h : 1;
}

// True when every cached frame in slots [lo, c) still holds the saved frame pointer and return
// address it held: then a walk from slot c would retrace the cached one. The loads are independent
// (the addresses are known), so this costs about a cycle per frame where the walk pays a load
// latency per frame.
bool cachedFramesUnchanged(const StackCacheEntry* e, unsigned lo, unsigned c) noexcept
{
    __m128i acc0 = _mm_setzero_si128(), acc1 = _mm_setzero_si128();
    const StackCacheEntry* p = e + lo;
    const StackCacheEntry* stop = e + c;
    for (; p + 2 <= stop; p += 2) {
        __m128i m0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p[0].addr));
        __m128i m1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p[1].addr));
        acc0 = _mm_or_si128(acc0, _mm_xor_si128(m0, _mm_load_si128(reinterpret_cast<const __m128i*>(&p[0].next))));
        acc1 = _mm_or_si128(acc1, _mm_xor_si128(m1, _mm_load_si128(reinterpret_cast<const __m128i*>(&p[1].next))));
    }
    if (p < stop) {
        __m128i m0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p[0].addr));
        acc0 = _mm_or_si128(acc0, _mm_xor_si128(m0, _mm_load_si128(reinterpret_cast<const __m128i*>(&p[0].next))));
    }
    acc0 = _mm_or_si128(acc0, acc1);
    return _mm_movemask_epi8(_mm_cmpeq_epi32(acc0, _mm_setzero_si128())) == 0xFFFF;
}

struct FpWalk {
    unsigned n = 0;
    uint64_t hash = 0;
    bool truncated = false;
    bool cachedId = false; // the stack is the cached one, whose id is known
    bool same = false;     // the stack is the cached one (the previous capture's)
    unsigned shared = 0;   // outermost frames equal to those of stack `parent` (already emitted)
    uint32_t parent = 0;
};

// The new stack is the k frames just walked (spare buffer, slots kInnermost - k + 1 ..
// kInnermost) below the cached frames base..m: move those k frames under slot m and extend the
// per-slot sums (w = g - sum above, with the cache's g kept).
FpWalk adoptCached(ThreadState* t, unsigned m, unsigned k, uint64_t freshSum) noexcept
{
    StackCache& c = t->stackCache;
    StackCacheEntry* cur = c.e[c.cur];
    const StackCacheEntry* fresh = c.e[c.cur ^ 1];
    constexpr unsigned kIn = StackCache::kInnermost;
    FpWalk r;
    r.n = m - c.base + 1 + k;
    t->framesReused += m - c.base + 1;
    if (k == 0 && m + 1 == c.end) {
        r.hash = c.hash;
        r.cachedId = c.id != 0;
        r.same = true;
        return r;
    }
    uint64_t sum = c.g - cur[m + 1].w + freshSum;
    uint64_t d = c.g - sum;
    for (unsigned j = 0; j < k; ++j) {
        // Word by word: the walk stored these words one by one just now, and a wider load spanning
        // two of those stores would stall on store forwarding.
        const volatile uint64_t* src = &fresh[kIn - j].next;
        cur[m + k - j] = StackCacheEntry { src[0], src[1], src[2], d + src[3] };
    }
    cur[m + k + 1].w = d;
    c.end = m + k + 1;
    c.n = r.n;
    c.hash = r.hash = finishHash(sum, r.n);
    c.id = 0;
    return r;
}

// Walks the rbp chain from our own frame. Every step is checked: the frame must lie below the top
// of this thread's stack, be 8-aligned, and move strictly up (so it never goes below the current
// stack pointer); the return address must be canonical user space. Leading frames in our library
// are dropped. Each frame goes into the spare cache buffer; at the first frame that equals a frame
// of the cached stack (same address, saved frame pointer and return address) the frames above it
// are compared in one pass, and when none changed the rest of the stack is the cached one.
FpWalk walkFramePointers(ThreadState* t, uintptr_t f, unsigned skip, unsigned depth) noexcept
{
    FpWalk r;
    uintptr_t hi = t->stackHi ? t->stackHi : f + (uintptr_t(8) << 20);
    // Our own frames (the hook and anything between it and `frame`) and `skip` more.
    unsigned dropped = 0;
    while (true) {
        if (f + 16 > hi || (f & 7u) != 0)
            return r;
        auto fp = reinterpret_cast<const uintptr_t*>(f);
        uintptr_t ip = fp[1];
        if (ip - 4096 >= (uintptr_t(1) << 47) - 4096 || ++dropped > 64)
            return r;
        bool ours = ip >= g_selfLo && ip < g_selfHi;
        if (!ours && skip == 0)
            break;
        if (!ours)
            --skip;
        uintptr_t next = fp[0];
        if (next <= f)
            return r;
        f = next;
    }
    StackCache& c = t->stackCache;
    const StackCacheEntry* cur = c.e[c.cur];
    StackCacheEntry* out = c.e[c.cur ^ 1];
    constexpr unsigned kIn = StackCache::kInnermost;
    // Cached frames are only compared when this frame lies in the thread's own stack: then every
    // cached frame above it lies between it and the stack top, which is mapped.
    int m = c.end && t->stackLo && f >= t->stackLo ? int(c.end) - 1 : -1;
    const int base = int(c.base);
    uint64_t sum = 0;
    unsigned n = 0;
    bool term = false;
    while (true) {
        auto fp = reinterpret_cast<const uintptr_t*>(f);
        uintptr_t ip = fp[1];
        uintptr_t next = fp[0];
        if (m >= base) {
            while (m >= base && cur[m].addr < f)
                --m;
            if (m >= base && cur[m].addr == f && cur[m].next == next && cur[m].ip == ip) {
                if (unsigned(m - base) + 1 + n <= depth
                    && cachedFramesUnchanged(cur, unsigned(base) - c.hasTerm, unsigned(m))) {
                    t->framesWalked += n;
                    return adoptCached(t, unsigned(m), n, sum);
                }
                m = -1; // the cached stack differs above here: finish the walk the slow way
            }
        }
        if (ip - 4096 >= (uintptr_t(1) << 47) - 4096) {
            out[kIn - n] = StackCacheEntry { next, ip, f, 0 };
            term = true;
            break;
        }
        if (n == depth) {
            r.truncated = true;
            break;
        }
        sum += frameMix(ip, hi - f);
        out[kIn - n] = StackCacheEntry { next, ip, f, sum };
        ++n;
        if (next <= f || next + 16 > hi || (next & 7u) != 0)
            break;
        f = next;
    }
    t->framesWalked += n;
    out[kIn + 1].w = 0;
    c.cur ^= 1;
    c.base = kIn - n + 1;
    c.end = r.truncated || n == 0 ? 0 : kIn + 1;
    c.hasTerm = term;
    c.n = n;
    c.g = sum;
    c.hash = r.hash = finishHash(sum, n);
    c.id = 0;
    r.n = n;
    return r;
}

// ---- The CFI walk ----------------------------------------------------------------------------

// Flags in CfiFrame::pc above the 47-bit user address space.
constexpr uint64_t kExactPc = uint64_t(1) << 63; // interrupted by a signal: pc is not a return address
constexpr uint64_t kRbpLost = uint64_t(1) << 62; // the callee's rules lost the caller's rbp
constexpr uint64_t kPcMask = (uint64_t(1) << 56) - 1;
const uint64_t kNoRead = 0; // where an unused read slot points (always reads as its value, 0)

inline bool userAddress(uint64_t a) noexcept { return a - 4096 < (uint64_t(1) << 47) - 4096; }

struct StackBounds {
    uintptr_t lo = 0, hi = 0;
};

// The stack holding sp: the thread's own, or its signal stack. False when neither holds it.
bool boundsOf(const ThreadState* t, uintptr_t sp, StackBounds* b) noexcept
{
    if (t->stackLo && sp >= t->stackLo && sp < t->stackHi) {
        *b = { t->stackLo, t->stackHi };
        return true;
    }
    if (!t->stackLo && !t->stackHi) { // bounds unknown: the frame-pointer walk's assumption
        *b = { sp, sp + (uintptr_t(8) << 20) };
        return true;
    }
    stack_t ss;
    if (sigaltstack(nullptr, &ss) == 0 && !(ss.ss_flags & SS_DISABLE)) {
        auto lo = reinterpret_cast<uintptr_t>(ss.ss_sp);
        if (sp >= lo && sp < lo + ss.ss_size) {
            *b = { lo, lo + ss.ss_size };
            return true;
        }
    }
    return false;
}

CfiState* cfiStateOf(ThreadState* t) noexcept
{
    CfiState* s = t->cfi;
    if (TIDEMARK_UNLIKELY(!s)) {
        void* mem = rawAlloc(sizeof(CfiState));
        if (!mem)
            return nullptr;
        s = t->cfi = new (mem) CfiState;
        s->epoch = g_cfiEpoch.load(std::memory_order_acquire);
    }
    uint32_t epoch = g_cfiEpoch.load(std::memory_order_acquire);
    if (TIDEMARK_UNLIKELY(s->epoch != epoch)) {
        for (CfiRuleSlot& slot : s->rules)
            slot.key = 0;
        for (cfi::Module& m : s->modules)
            m = cfi::Module {};
        s->n = 0;
        s->epoch = epoch;
    }
    return s;
}

const cfi::Module* moduleFor(CfiState* s, uintptr_t at) noexcept
{
    for (const cfi::Module& m : s->modules)
        if (at >= m.lo && at < m.hi)
            return &m;
    cfi::Module found;
    if (!cfi::findModule(at, &found))
        return nullptr; // not cached: a module may be loaded there later
    cfi::Module& slot = s->modules[s->moduleNext++ % CfiState::kModules];
    slot = found;
    return &slot;
}

inline cfi::Rule ruleFor(CfiState* s, uintptr_t at) noexcept
{
    CfiRuleSlot& slot = s->rules[((at + 1) * kMulA) >> (64 - CfiState::kRuleBits)];
    if (TIDEMARK_LIKELY(slot.key == at + 1))
        return slot.rule;
    const cfi::Module* m = moduleFor(s, at);
    if (!m)
        return cfi::Rule {};
    slot.rule = cfi::findRule(*m, at);
    slot.key = at + 1;
    return slot.rule;
}

// The walk's registers between steps.
struct CfiRegs {
    uint64_t pc; // with kExactPc / kRbpLost
    uint64_t sp;
    uint64_t rbp;
};

enum class Step { Next, NextAfterSignal, End, Stop };

// One step from frame fr (whose registers are r) to its caller, recording in fr every word read.
Step cfiStep(ThreadState* t, CfiState* s, CfiFrame& fr, CfiRegs& r, StackBounds& b) noexcept
{
    for (unsigned i = 0; i < 3; ++i) {
        fr.read[i] = &kNoRead;
        fr.value[i] = 0;
    }
    auto load = [&](uintptr_t addr, unsigned slot, uint64_t* out) {
        if (addr < b.lo || addr > b.hi - 8 || (addr & 7u))
            return false;
        auto p = reinterpret_cast<const uint64_t*>(addr);
        *out = fr.value[slot] = *p;
        fr.read[slot] = p;
        return true;
    };
    bool exact = r.pc & kExactPc;
    bool rbpLost = r.pc & kRbpLost;
    uintptr_t pc = r.pc & kPcMask;
    cfi::Rule rule = ruleFor(s, exact ? pc : pc - 1);
    uintptr_t cfa = 0;
    switch (rule.cfa) {
    case cfi::CfaKind::End: return Step::End;
    case cfi::CfaKind::Signal: {
        // __restore_rt's frame: the kernel's rt_sigframe, whose ucontext starts at sp.
        if (r.sp < b.lo || r.sp + sizeof(ucontext_t) > b.hi)
            return Step::Stop;
        const auto* uc = reinterpret_cast<const ucontext_t*>(r.sp);
        uint64_t ip = uint64_t(uc->uc_mcontext.gregs[REG_RIP]);
        uint64_t sp = uint64_t(uc->uc_mcontext.gregs[REG_RSP]);
        fr.read[0] = nullptr; // the registers are not checked on reuse: never reuse past a signal
        StackBounds nb;
        if (!userAddress(ip) || !boundsOf(t, sp, &nb))
            return Step::Stop;
        b = nb;
        r = { ip | kExactPc, sp, uint64_t(uc->uc_mcontext.gregs[REG_RBP]) };
        return Step::NextAfterSignal;
    }
    case cfi::CfaKind::Rsp: cfa = r.sp + int64_t(rule.cfaOffset); break;
    case cfi::CfaKind::Rbp:
        if (rbpLost)
            return Step::Stop;
        cfa = r.rbp + int64_t(rule.cfaOffset);
        break;
    case cfi::CfaKind::DerefRbp:
        if (rbpLost || !load(r.rbp + int64_t(rule.cfaOffset), 2, &cfa))
            return Step::Stop;
        break;
    case cfi::CfaKind::Unknown:
    case cfi::CfaKind::FramePointer:
        // No rules for this code (JIT code, hand-written assembly, a module without tables): the
        // rbp chain is the only lead. The result must at least return into a module.
        if (rbpLost)
            return Step::Stop;
        rule.cfa = cfi::CfaKind::FramePointer;
        rule.raOffset = -8;
        rule.rbp = cfi::RbpKind::Saved;
        rule.rbpOffset = -16;
        cfa = r.rbp + 16;
        break;
    }
    if (cfa <= r.sp)
        return Step::Stop; // every frame must lie above the one it called
    uint64_t ra = 0, rbp = r.rbp;
    if (!load(cfa + int64_t(rule.raOffset), 0, &ra) || !userAddress(ra))
        return Step::Stop;
    if (rule.rbp == cfi::RbpKind::Saved) {
        if (!load(cfa + int64_t(rule.rbpOffset), 1, &rbp))
            return Step::Stop;
    } else if (rule.rbp == cfi::RbpKind::AtRbp) {
        if (rbpLost || !load(r.rbp + int64_t(rule.rbpOffset), 1, &rbp))
            return Step::Stop;
    }
    if (rule.cfa == cfi::CfaKind::FramePointer) {
        if (!moduleFor(s, ra - 1))
            return Step::Stop;
        ++t->framesGuessed;
    }
    r = { ra | (rule.rbp == cfi::RbpKind::Unknown ? kRbpLost : 0), cfa, rbp };
    return Step::Next;
}

// True when every word the cached frames 0..m read on their steps still holds what it held.
bool cfiReadsUnchanged(const CfiFrame* f, int m) noexcept
{
    uint64_t diff = 0;
    for (int i = 0; i <= m; ++i) {
        if (!f[i].read[0])
            return false;
        diff |= (*f[i].read[0] ^ f[i].value[0]) | (*f[i].read[1] ^ f[i].value[1]) | (*f[i].read[2] ^ f[i].value[2]);
    }
    return diff == 0;
}

// Walks from our own frame: the hook frames (always built with frame pointers) by their rbp
// chain, then the target's frames by their unwind rules. At the first frame whose registers equal
// those of a frame of the cached stack, when every word the cached walk read from there on is
// unchanged, the rest of the stack is the cached one.
FpWalk walkCfi(ThreadState* t, uintptr_t f, unsigned skip, unsigned depth) noexcept
{
    FpWalk r;
    CfiState* s = cfiStateOf(t);
    if (!s)
        return r;
    StackBounds b;
    if (!boundsOf(t, f, &b))
        return r;
    unsigned dropped = 0;
    CfiRegs regs {};
    while (true) {
        if (f < b.lo || f > b.hi - 16 || (f & 7u) != 0)
            return r;
        auto fp = reinterpret_cast<const uintptr_t*>(f);
        uintptr_t ip = fp[1];
        if (!userAddress(ip) || ++dropped > 64)
            return r;
        if (!(ip >= g_selfLo && ip < g_selfHi)) {
            regs = { ip, f + 16, fp[0] };
            break;
        }
        if (fp[0] <= f)
            return r;
        f = fp[0];
    }
    CfiFrame scratch;
    for (; skip; --skip) {
        Step st = cfiStep(t, s, scratch, regs, b);
        if (st != Step::Next && st != Step::NextAfterSignal)
            return r;
    }
    int m = s->n && !s->truncated ? int(s->n) - 1 : -1;
    unsigned k = 0;
    while (true) {
        if (m >= 0) {
            while (m >= 0 && s->frames[m].sp < regs.sp)
                --m;
            const CfiFrame& c = m >= 0 ? s->frames[m] : scratch;
            if (m >= 0 && c.sp == regs.sp && c.pc == regs.pc && c.rbp == regs.rbp) {
                if (unsigned(m) + 1 + k <= depth && cfiReadsUnchanged(s->frames, m))
                    break;
                m = -1;
            }
        }
        if (k == depth) {
            r.truncated = true;
            m = -1;
            break;
        }
        CfiFrame& fr = s->fresh[k++];
        fr.pc = regs.pc;
        fr.sp = regs.sp;
        fr.rbp = regs.rbp;
        Step st = cfiStep(t, s, fr, regs, b);
        if (st == Step::NextAfterSignal)
            m = -1; // the cached frames' stack order no longer says anything here
        else if (st != Step::Next) {
            m = -1;
            break;
        }
    }
    t->framesWalked += k;
    // The new stack: cached frames 0..m, then the k fresh ones, outermost first.
    unsigned n = unsigned(m + 1) + k;
    if (m >= 0)
        t->framesReused += unsigned(m) + 1;
    if (k == 0 && n == s->n) {
        r.n = n;
        r.hash = s->hash;
        r.cachedId = s->id != 0;
        r.same = true;
        return r;
    }
    if (m >= 0 && s->id) {
        r.parent = s->id; // the previous stack, whose Stack record this thread has written
        r.shared = unsigned(m) + 1;
    }
    uint64_t sum = m >= 0 ? s->frames[m].sum : 0;
    for (unsigned j = 0; j < k; ++j) {
        CfiFrame& dst = s->frames[m + 1 + int(j)];
        dst = s->fresh[k - 1 - j];
        sum += frameMix(dst.pc & kPcMask, t->stackHi - dst.sp);
        dst.sum = sum;
    }
    s->n = n;
    s->truncated = r.truncated;
    s->id = 0;
    s->hash = r.hash = finishHash(sum, n);
    r.n = n;
    return r;
}

unsigned walkLibunwind(ThreadState* t, unsigned skip, unsigned depth, bool* truncated) noexcept
{
    void* raw[wire::kMaxStackDepth + 16];
    int want = int(depth + skip + 12);
    if (want > int(sizeof(raw) / sizeof(raw[0])))
        want = int(sizeof(raw) / sizeof(raw[0]));
    int got = g_unwBacktrace(raw, want);
    int i = 0;
    while (i < got && reinterpret_cast<uintptr_t>(raw[i]) >= g_selfLo && reinterpret_cast<uintptr_t>(raw[i]) < g_selfHi)
        ++i;
    i += int(skip);
    unsigned n = 0;
    for (; i < got && n < depth; ++i)
        t->frames()[n++] = reinterpret_cast<uintptr_t>(raw[i]);
    *truncated = got == want && i < got;
    return n;
}

// TIDEMARK_UNWIND_CHECK: libunwind walks the same stack and every frame must agree. Near the
// depth limit only the frames both have are compared; a libunwind walk that stops early (it gives
// up on some frames the CFI walk follows) counts as a mismatch too, so the log says which.
void checkAgainstLibunwind(ThreadState* t, const FpWalk& w, unsigned skip, unsigned depth) noexcept
{
    uint64_t* saved = t->frames();
    uint64_t reference[wire::kMaxStackDepth + 16];
    bool truncated = false;
    // walkLibunwind writes into t->frames(); keep the emission buffer out of it.
    uint64_t keep[wire::kMaxStackDepth];
    std::memcpy(keep, saved, sizeof(keep));
    unsigned n = walkLibunwind(t, skip, depth, &truncated);
    std::memcpy(reference, saved, n * sizeof(uint64_t));
    std::memcpy(saved, keep, sizeof(keep));
    const CfiFrame* e = t->cfi ? t->cfi->frames + w.n - 1 : nullptr;
    unsigned same = 0, common = n < w.n ? n : w.n;
    while (e && same < common && (e[-int(same)].pc & kPcMask) == reference[same])
        ++same;
    g_counters.unwindChecks.fetch_add(1, std::memory_order_relaxed);
    if (same == common && (n == w.n || (w.truncated && truncated)))
        return;
    uint64_t count = g_counters.unwindMismatches.fetch_add(1, std::memory_order_relaxed);
    if (count < 5) {
        char line[200];
        std::snprintf(line, sizeof(line), "unwind check: CFI %u frames, libunwind %u; first difference at frame %u: %#lx vs %#lx",
            w.n, n, same, same < w.n && e ? static_cast<unsigned long>(e[-int(same)].pc & kPcMask) : 0ul,
            same < n ? static_cast<unsigned long>(reference[same]) : 0ul);
        log(LogLevel::Warn, line);
    }
}

// Hash of a libunwind stack: two independent multiply-xor lanes (even and odd frames), half the
// dependency chain of one lane. (CFI and frame-pointer stacks use frameMix; a process uses one unwinder.)
uint64_t hashFrames(const uint64_t* frames, unsigned n) noexcept
{
    uint64_t a = 0x243F6A8885A308D3ull, b = 0x13198A2E03707344ull;
    for (unsigned i = 0; i < n; ++i) {
        if (i & 1)
            b = (b ^ frames[i]) * kMulB;
        else
            a = (a ^ frames[i]) * kMulA;
    }
    uint64_t h = (a ^ (b >> 7) ^ (b << 13) ^ n) * kMulB;
    h ^= h >> 32;
    return h ? h : 1;
}

bool growTable(StackTable& table) noexcept
{
    uint32_t capacity = table.slots ? (table.mask + 1) * 2 : 4096;
    auto* slots = static_cast<StackSlot*>(rawAlloc(size_t(capacity) * sizeof(StackSlot)));
    if (!slots)
        return false;
    if (table.slots) {
        for (uint32_t i = 0; i <= table.mask; ++i) {
            const StackSlot& s = table.slots[i];
            if (!s.hash)
                continue;
            uint32_t j = uint32_t(s.hash) & (capacity - 1);
            while (slots[j].hash)
                j = (j + 1) & (capacity - 1);
            slots[j] = s;
        }
        rawFree(table.slots, (size_t(table.mask) + 1) * sizeof(StackSlot));
    }
    table.slots = slots;
    table.mask = capacity - 1;
    return true;
}

// The frames are t->frames(), innermost first; only the n - shared not taken from parent go out.
void emitStackRecord(ThreadState* t, uint32_t id, unsigned n, uint32_t parent, unsigned shared) noexcept
{
    wire::StackRecord r {};
    r.h.kind = uint16_t(wire::Kind::Stack);
    r.h.size_bytes = uint16_t(sizeof(r) + (n - shared) * sizeof(uint64_t));
    r.depth = uint16_t(n);
    r.shared = uint16_t(shared);
    r.id = id;
    r.parent = parent;
    static_assert(sizeof(wire::StackRecord) == 2 * sizeof(uint64_t));
    std::memcpy(t->stackBuf, &r, sizeof(r));
    ringPut(t, t->stackBuf, r.h.size_bytes);
}

// The id of the stack with hash h and n frames in this thread's table; *fresh when it was not
// there (then the caller writes its record).
uint32_t internStack(ThreadState* t, uint64_t h, unsigned n, bool* fresh) noexcept
{
    *fresh = false;
    // A few call sites alternating (malloc here, calloc there) hit these without touching the
    // table, whose slots are spread over many cache lines.
    for (const StackSlot& s : t->recentStacks)
        if (s.hash == h && s.depth == n)
            return s.id;
    StackTable& table = t->stacks;
    if (TIDEMARK_UNLIKELY(!table.slots || table.used * 2 >= table.mask + 1) && !growTable(table))
        return 0;
    uint32_t i = uint32_t(h) & table.mask;
    while (true) {
        StackSlot& s = table.slots[i];
        if (s.hash == h && s.depth == n) {
            t->recentStacks[t->recentNext++ & 3] = s;
            return s.id;
        }
        if (!s.hash)
            break;
        i = (i + 1) & table.mask;
    }
    uint32_t id = g_nextStackId.fetch_add(1, std::memory_order_relaxed);
    table.slots[i] = StackSlot { h, id, n };
    t->recentStacks[t->recentNext++ & 3] = table.slots[i];
    ++table.used;
    ++t->stacksNew;
    *fresh = true;
    return id;
}

// A stack running Python: the walk's native frames with the Python functions in place of the
// eval loop's frames (python.cpp). False when it holds no Python. Such stacks are looked up by
// their merged frames; the walk's cache never learns their id (its frames are only the native ones).
bool pythonStackFor(ThreadState* t, Unwinder unwinder, const FpWalk& w, uint32_t* id) noexcept
{
    unsigned n = w.n;
    uint64_t native[wire::kMaxStackDepth];
    if (unwinder == Unwinder::Cfi) {
        const CfiFrame* e = t->cfi->frames + n - 1;
        for (unsigned k = 0; k < n; ++k)
            native[k] = e[-int(k)].pc & kPcMask;
    } else if (unwinder == Unwinder::FramePointer) {
        const StackCache& c = t->stackCache;
        const StackCacheEntry* e = c.e[c.cur] + c.base + n - 1;
        for (unsigned k = 0; k < n; ++k)
            native[k] = e[-int(k)].ip;
    } else {
        std::memcpy(native, t->frames(), n * sizeof(uint64_t));
    }
    bool same = false;
    unsigned k = pythonExpand(t, native, n, w.truncated, w.same && unwinder != Unwinder::Libunwind, t->frames(), &same);
    if (!k)
        return false;
    if (unwinder == Unwinder::Cfi)
        t->cfi->id = 0;
    else
        t->stackCache.id = 0;
    if (same) {
        *id = pythonLastId(t);
        return true;
    }
    bool fresh = false;
    *id = internStack(t, hashFrames(t->frames(), k) ^ 0x5079746F6E000000ull, k, &fresh);
    if (fresh) {
        unsigned shared = 0;
        uint32_t parent = pythonParentFor(t, t->frames(), k, &shared);
        emitStackRecord(t, *id, k, parent, shared);
        pythonEmitted(t, *id, t->frames(), k);
    }
    pythonRemember(t, *id);
    return true;
}

} // namespace

bool addressIsOurs(uintptr_t ip) noexcept { return ip >= g_selfLo && ip < g_selfHi; }

// Early part (may run inside the first malloc, during the dynamic loader's start-up): only finds
// our own text range. Until stacksLoadUnwinder() has run, captures use frame pointers.
bool stacksInit() noexcept
{
    if (!g_selfHi)
        dl_iterate_phdr(findSelf, reinterpret_cast<void*>(&findSelf));
    return true;
}

// From the library constructor: dlopen must not run inside a malloc the loader itself made.
void stacksLoadUnwinder() noexcept
{
    bool wanted = g_config.unwinder == Unwinder::Libunwind || (g_config.checkUnwind && g_config.unwinder == Unwinder::Cfi);
    if (g_config.stackDepth && wanted && !g_unwBacktrace && !loadLibunwind()) {
        if (g_config.unwinder == Unwinder::Libunwind)
            g_config.unwinder = Unwinder::Cfi;
        g_config.checkUnwind = false;
    }
}

void resetStackIds() noexcept { g_nextStackId.store(1); }

uint32_t captureStackFor(ThreadState* t, const void* frame, unsigned skip) noexcept
{
    unsigned depth = g_config.stackDepth;
    if (!depth)
        return 0;
    ++t->stackCaptures;
    Unwinder unwinder = g_config.unwinder;
    if (unwinder == Unwinder::Libunwind && !g_unwBacktrace)
        unwinder = Unwinder::FramePointer;
    FpWalk w;
    if (unwinder == Unwinder::Cfi) {
        w = walkCfi(t, reinterpret_cast<uintptr_t>(frame), skip, depth);
        if (TIDEMARK_UNLIKELY(g_config.checkUnwind && g_unwBacktrace))
            checkAgainstLibunwind(t, w, skip, depth);
        if (w.cachedId)
            return t->cfi->id;
    } else if (unwinder == Unwinder::FramePointer) {
        w = walkFramePointers(t, reinterpret_cast<uintptr_t>(frame), skip, depth);
        if (w.cachedId)
            return t->stackCache.id;
    } else {
        w.n = walkLibunwind(t, skip, depth, &w.truncated);
        w.hash = hashFrames(t->frames(), w.n);
    }
    if (w.truncated)
        ++t->stacksTruncated;
    unsigned n = w.n;
    uint64_t h = w.hash;
    if (n == 0) {
        ++t->stacksEmpty;
        return 0;
    }
    if (TIDEMARK_UNLIKELY(pythonEnabled()))
        if (uint32_t id = 0; pythonStackFor(t, unwinder, w, &id))
            return id;
    // The walk's cached stack learns its id, so the next identical capture skips the lookup.
    auto remember = [&](uint32_t id) {
        if (unwinder == Unwinder::Cfi)
            t->cfi->id = id;
        else
            t->stackCache.id = id;
    };
    bool fresh = false;
    uint32_t id = internStack(t, h, n, &fresh);
    if (!fresh) {
        remember(id);
        return id;
    }
    // The frames are in the walk's cache, outermost first; the record wants innermost first.
    if (unwinder == Unwinder::Cfi) {
        const CfiFrame* e = t->cfi->frames + n - 1;
        for (unsigned k = 0; k < n - w.shared; ++k)
            t->frames()[k] = e[-int(k)].pc & kPcMask;
    } else if (unwinder == Unwinder::FramePointer) {
        const StackCache& c = t->stackCache;
        const StackCacheEntry* e = c.e[c.cur] + c.base + n - 1;
        for (unsigned k = 0; k < n; ++k)
            t->frames()[k] = e[-int(k)].ip;
    }
    remember(id);
    emitStackRecord(t, id, n, w.parent, w.shared);
    return id;
}

uint32_t captureStack(unsigned skip) noexcept
{
    if (!active())
        return 0;
    ThreadState* t = currentThread();
    if (!t)
        return 0;
    // Leading libtidemark frames (the calling hook among them) are always dropped; `skip` counts
    // from that hook, so skip - 1 further frames of the target go too.
    return captureStackFor(t, __builtin_frame_address(0), skip ? skip - 1 : 0);
}

} // namespace tidemark::interposer
