// Bit-level fp16/bf16 conversions used by the CPU backend (the CUDA backend uses the device
// intrinsics, which implement the same round-to-nearest-even rule).
#include "half.h"

#include <cstring>

namespace tidemark::train {

namespace {

    uint32_t bitsOf(float f)
    {
        uint32_t u;
        std::memcpy(&u, &f, sizeof u);
        return u;
    }

    float floatOf(uint32_t u)
    {
        float f;
        std::memcpy(&f, &u, sizeof f);
        return f;
    }

} // namespace

const char* dtypeName(DType t)
{
    switch (t) {
    case DType::Fp32:
        return "fp32";
    case DType::Fp16:
        return "fp16";
    case DType::Bf16:
        return "bf16";
    }
    return "?";
}

uint16_t floatToHalf(float f)
{
    const uint32_t u = bitsOf(f);
    const uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000u);
    const uint32_t absBits = u & 0x7fffffffu;
    if (absBits >= 0x7f800000u) {
        // Inf stays Inf; NaN becomes a quiet NaN that keeps the top payload bits.
        const uint16_t nan = absBits > 0x7f800000u ? static_cast<uint16_t>(0x0200u | ((absBits >> 13) & 0x3ffu)) : 0;
        return static_cast<uint16_t>(sign | 0x7c00u | nan);
    }
    const int exp = static_cast<int>(absBits >> 23) - 127;
    if (exp > 15)
        return static_cast<uint16_t>(sign | 0x7c00u); // overflow to infinity
    if (exp >= -14) {
        // Normal half: keep 10 mantissa bits, round the 13 dropped ones to nearest even. A carry
        // out of the mantissa correctly bumps the exponent (and may produce infinity).
        uint32_t mant = absBits & 0x7fffffu;
        uint32_t h = (static_cast<uint32_t>(exp + 15) << 10) | (mant >> 13);
        const uint32_t rest = mant & 0x1fffu;
        if (rest > 0x1000u || (rest == 0x1000u && (h & 1u)))
            ++h;
        return static_cast<uint16_t>(sign | h);
    }
    if (exp < -25)
        return sign; // below half the smallest subnormal: rounds to zero
    // Subnormal half: value = m * 2^-24 with the implicit bit made explicit.
    const uint32_t mant = (absBits & 0x7fffffu) | 0x800000u;
    const int shift = -exp - 1; // 14..24 bits dropped relative to 2^-24 units
    uint32_t h = mant >> shift;
    const uint32_t rest = mant & ((1u << shift) - 1u);
    const uint32_t halfway = 1u << (shift - 1);
    if (rest > halfway || (rest == halfway && (h & 1u)))
        ++h;
    return static_cast<uint16_t>(sign | h);
}

float halfToFloat(uint16_t h)
{
    const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
    const uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t mant = h & 0x3ffu;
    if (exp == 0x1f)
        return floatOf(sign | 0x7f800000u | (mant << 13));
    if (exp != 0)
        return floatOf(sign | ((exp + 112) << 23) | (mant << 13));
    if (mant == 0)
        return floatOf(sign);
    // Subnormal: normalise the mantissa into an fp32 normal.
    int e = -1;
    do {
        mant <<= 1;
        ++e;
    } while ((mant & 0x400u) == 0);
    return floatOf(sign | (static_cast<uint32_t>(112 - e) << 23) | ((mant & 0x3ffu) << 13));
}

uint16_t floatToBf16(float f)
{
    const uint32_t u = bitsOf(f);
    if ((u & 0x7fffffffu) > 0x7f800000u)
        return static_cast<uint16_t>((u >> 16) | 0x0040u); // quiet NaN, never rounds into Inf
    const uint32_t rounding = 0x7fffu + ((u >> 16) & 1u);
    return static_cast<uint16_t>((u + rounding) >> 16);
}

float bf16ToFloat(uint16_t b)
{
    return floatOf(static_cast<uint32_t>(b) << 16);
}

void storeFromFloat(const float* src, void* dst, DType t, size_t n)
{
    switch (t) {
    case DType::Fp32:
        std::memcpy(dst, src, n * sizeof(float));
        return;
    case DType::Fp16: {
        auto* out = static_cast<uint16_t*>(dst);
        for (size_t i = 0; i < n; ++i)
            out[i] = floatToHalf(src[i]);
        return;
    }
    case DType::Bf16: {
        auto* out = static_cast<uint16_t*>(dst);
        for (size_t i = 0; i < n; ++i)
            out[i] = floatToBf16(src[i]);
        return;
    }
    }
}

void loadToFloat(const void* src, float* dst, DType t, size_t n)
{
    switch (t) {
    case DType::Fp32:
        std::memcpy(dst, src, n * sizeof(float));
        return;
    case DType::Fp16: {
        const auto* in = static_cast<const uint16_t*>(src);
        for (size_t i = 0; i < n; ++i)
            dst[i] = halfToFloat(in[i]);
        return;
    }
    case DType::Bf16: {
        const auto* in = static_cast<const uint16_t*>(src);
        for (size_t i = 0; i < n; ++i)
            dst[i] = bf16ToFloat(in[i]);
        return;
    }
    }
}

} // namespace tidemark::train
