// nowNs(): CLOCK_MONOTONIC in nanoseconds, read from the TSC (≈8 ns here against ≈18 ns for the
// vdso clock_gettime) once the drain thread has calibrated it against clock_gettime, and from
// clock_gettime before that or when the kernel does not trust the TSC itself.
#include "interposer/runtime.h"

#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <unistd.h>
#include <x86intrin.h>

namespace tidemark::interposer {

// Two slots and a sequence: readers take slots[seq & 1]; the writer fills the other slot and then
// bumps seq. Calibrations are seconds apart, so a reader never sees a slot being rewritten.
TscParams g_tscSlots[2];
std::atomic<uint32_t> g_tscSeq { 0 };
std::atomic<bool> g_useTsc { false };

namespace {

bool g_tscTrusted = false;
uint64_t g_calTsc0 = 0;
uint64_t g_calNs0 = 0;
uint64_t g_lastCalNs = 0;
unsigned g_calCount = 0;

uint64_t monotonicNs() noexcept
{
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

uint64_t convert(const TscParams& p, uint64_t tsc) noexcept
{
    uint64_t delta = tsc - p.tscBase;
    return p.nsBase + uint64_t((unsigned __int128)delta * p.mult >> 32);
}

// The kernel only picks "tsc" as its clocksource after checking that the TSC is invariant and
// synchronised across CPUs; we rely on that check instead of repeating it.
bool kernelUsesTsc() noexcept
{
    int fd = ::open("/sys/devices/system/clocksource/clocksource0/current_clocksource", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    char buf[32] = {};
    ssize_t n = ::read(fd, buf, sizeof(buf) - 1);
    ::close(fd);
    return n >= 3 && std::strncmp(buf, "tsc", 3) == 0 && (n == 3 || buf[3] == '\n');
}

// A (tsc, ns) pair taken as close together as possible (the tightest of three tries); false when
// even that one straddles a preemption (more than ~10 µs of TSC), so the tick is skipped.
bool samplePair(uint64_t* tsc, uint64_t* ns) noexcept
{
    uint64_t best = ~0ull;
    for (int i = 0; i < 3; ++i) {
        uint64_t a = __rdtsc();
        uint64_t n = monotonicNs();
        uint64_t b = __rdtsc();
        if (b - a < best) {
            best = b - a;
            *tsc = a + (b - a) / 2;
            *ns = n;
        }
    }
    return best < 30000;
}

} // namespace

uint64_t nowNs() noexcept
{
    if (TIDEMARK_LIKELY(g_useTsc.load(std::memory_order_relaxed))) {
        const TscParams& p = g_tscSlots[g_tscSeq.load(std::memory_order_acquire) & 1];
        return convert(p, __rdtsc());
    }
    return monotonicNs();
}

void clockInit() noexcept
{
    g_useTsc.store(false);
    g_tscSeq.store(0);
    g_calCount = 0;
    g_tscTrusted = kernelUsesTsc();
    for (int i = 0; i < 10 && !samplePair(&g_calTsc0, &g_calNs0); ++i) {
    }
    g_lastCalNs = g_calNs0;
}

// Called on every drain tick; calibrates 20 ms, 200 ms, 2 s and 10 s after start, then every 10 s,
// always against the first pair (so the slope error shrinks with the baseline). The clock never
// steps back: if the old line is ahead of CLOCK_MONOTONIC at the switch, the new line starts there
// with a slightly lower slope that meets the true clock by the next calibration (a slew).
void clockRecalibrate() noexcept
{
    if (!g_tscTrusted)
        return;
    static const uint64_t kSchedule[] = { 20000000ull, 200000000ull, 2000000000ull, 10000000000ull };
    constexpr uint64_t kPeriod = 10000000000ull;
    uint64_t due = g_calCount < 4 ? g_calNs0 + kSchedule[g_calCount] : g_lastCalNs + kPeriod;
    uint64_t tsc, ns;
    if (monotonicNs() < due || !samplePair(&tsc, &ns) || tsc <= g_calTsc0)
        return;
    uint64_t trueMult = uint64_t(((unsigned __int128)(ns - g_calNs0) << 32) / (tsc - g_calTsc0));
    uint64_t nextDue = g_calCount + 1 < 4 ? g_calNs0 + kSchedule[g_calCount + 1] : ns + kPeriod;
    uint64_t untilNext = nextDue > ns ? nextDue - ns : kPeriod;
    TscParams next { tsc, ns, trueMult };
    if (g_useTsc.load()) {
        uint64_t old = convert(g_tscSlots[g_tscSeq.load() & 1], tsc);
        if (old > ns) {
            uint64_t ahead = old - ns;
            next.nsBase = old;
            if (ahead < untilNext / 2)
                next.mult = trueMult - uint64_t((unsigned __int128)trueMult * ahead / untilNext);
        }
    }
    uint32_t seq = g_tscSeq.load();
    g_tscSlots[(seq + 1) & 1] = next;
    g_tscSeq.store(seq + 1, std::memory_order_release);
    g_useTsc.store(true, std::memory_order_release);
    g_lastCalNs = ns;
    ++g_calCount;
}

} // namespace tidemark::interposer
