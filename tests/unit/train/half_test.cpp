// fp16/bf16 conversions of tidemark-train: exhaustive round trips over every 16-bit pattern, and
// fp32 -> 16-bit rounding checked against independent references (the compiler's _Float16, and a
// nearest-even search done in double precision for bf16).
#include "half.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

using namespace tidemark::train;

namespace {

bool isHalfNan(uint16_t h)
{
    return (h & 0x7c00u) == 0x7c00u && (h & 0x3ffu) != 0;
}
bool isBf16Nan(uint16_t b)
{
    return (b & 0x7f80u) == 0x7f80u && (b & 0x7fu) != 0;
}

uint16_t referenceHalf(float f)
{
    const _Float16 h = static_cast<_Float16>(f);
    uint16_t bits;
    std::memcpy(&bits, &h, sizeof bits);
    return bits;
}

// Nearest bf16 to f, ties to even, found by comparing the two truncation neighbours in double.
uint16_t referenceBf16(float f)
{
    uint32_t u;
    std::memcpy(&u, &f, sizeof u);
    const uint16_t down = static_cast<uint16_t>(u >> 16);
    const uint16_t up = static_cast<uint16_t>(down + 1);
    const double lo = bf16ToFloat(down), hi = bf16ToFloat(up);
    const double dLo = std::fabs(static_cast<double>(f) - lo), dHi = std::fabs(hi - static_cast<double>(f));
    if ((u & 0xffffu) == 0)
        return down;
    if (dLo < dHi)
        return down;
    if (dHi < dLo)
        return up;
    return (down & 1u) ? up : down;
}

std::vector<float> interestingFloats()
{
    std::vector<float> v { 0.0f, -0.0f, 1.0f, -1.0f, 65504.0f, 65520.0f, 65519.99f, 1e-8f, 5.9604645e-8f, 2.9802322e-8f,
        2.98023259e-8f, 6.1035156e-5f, 6.097555e-5f, 3.0e38f, std::numeric_limits<float>::infinity(),
        -std::numeric_limits<float>::infinity(), std::numeric_limits<float>::denorm_min(), 1.0009765625f,
        1.00048828125f, 1.00146484375f };
    std::mt19937 gen(42);
    std::uniform_int_distribution<uint32_t> bits;
    for (int i = 0; i < 200000; ++i) {
        const uint32_t u = bits(gen);
        float f;
        std::memcpy(&f, &u, sizeof f);
        if (!std::isnan(f))
            v.push_back(f);
    }
    // Values in the fp16 range, where the rounding matters most.
    std::uniform_real_distribution<float> small(-70000.0f, 70000.0f);
    std::uniform_real_distribution<float> tiny(-1e-4f, 1e-4f);
    for (int i = 0; i < 100000; ++i) {
        v.push_back(small(gen));
        v.push_back(tiny(gen));
    }
    return v;
}

} // namespace

TEST(HalfTest, EveryHalfPatternRoundTrips)
{
    for (uint32_t h = 0; h <= 0xffffu; ++h) {
        const float f = halfToFloat(static_cast<uint16_t>(h));
        const uint16_t back = floatToHalf(f);
        if (isHalfNan(static_cast<uint16_t>(h)))
            EXPECT_TRUE(isHalfNan(back)) << std::hex << h;
        else
            ASSERT_EQ(back, h) << std::hex << h;
    }
}

TEST(HalfTest, HalfToFloatMatchesCompiler)
{
    for (uint32_t h = 0; h <= 0xffffu; ++h) {
        if (isHalfNan(static_cast<uint16_t>(h)))
            continue;
        _Float16 ref;
        const uint16_t bits = static_cast<uint16_t>(h);
        std::memcpy(&ref, &bits, sizeof bits);
        ASSERT_EQ(halfToFloat(bits), static_cast<float>(ref)) << std::hex << h;
    }
}

TEST(HalfTest, FloatToHalfRoundsLikeCompiler)
{
    for (float f : interestingFloats())
        ASSERT_EQ(floatToHalf(f), referenceHalf(f)) << f;
    EXPECT_TRUE(isHalfNan(floatToHalf(std::numeric_limits<float>::quiet_NaN())));
}

TEST(Bf16Test, EveryBf16PatternRoundTrips)
{
    for (uint32_t b = 0; b <= 0xffffu; ++b) {
        const uint16_t back = floatToBf16(bf16ToFloat(static_cast<uint16_t>(b)));
        if (isBf16Nan(static_cast<uint16_t>(b)))
            EXPECT_TRUE(isBf16Nan(back)) << std::hex << b;
        else
            ASSERT_EQ(back, b) << std::hex << b;
    }
}

TEST(Bf16Test, FloatToBf16RoundsToNearestEven)
{
    for (float f : interestingFloats()) {
        if (std::isinf(f) || std::fabs(f) > 3.38e38f)
            continue; // the double reference has no neighbour above the largest finite bf16
        ASSERT_EQ(floatToBf16(f), referenceBf16(f)) << f;
    }
    EXPECT_EQ(floatToBf16(std::numeric_limits<float>::infinity()), 0x7f80u);
    EXPECT_TRUE(isBf16Nan(floatToBf16(std::numeric_limits<float>::quiet_NaN())));
    // A NaN whose payload sits only in the low bits must not truncate to infinity.
    uint32_t lowNan = 0x7f800001u;
    float f;
    std::memcpy(&f, &lowNan, sizeof f);
    EXPECT_TRUE(isBf16Nan(floatToBf16(f)));
}

TEST(StorageTest, BulkStoreAndLoadAgreeWithScalarConversions)
{
    const std::vector<float> src { 0.1f, -2.5f, 1e-6f, 300.0f, -0.0f, 65504.0f };
    for (DType t : { DType::Fp32, DType::Fp16, DType::Bf16 }) {
        std::vector<uint8_t> stored(src.size() * elementSize(t));
        std::vector<float> back(src.size());
        storeFromFloat(src.data(), stored.data(), t, src.size());
        loadToFloat(stored.data(), back.data(), t, src.size());
        for (size_t i = 0; i < src.size(); ++i) {
            const float expect = t == DType::Fp32 ? src[i]
                : t == DType::Fp16                ? halfToFloat(floatToHalf(src[i]))
                                                  : bf16ToFloat(floatToBf16(src[i]));
            EXPECT_EQ(back[i], expect) << dtypeName(t) << " " << src[i];
        }
    }
    EXPECT_EQ(elementSize(DType::Fp16), 2u);
    EXPECT_EQ(elementSize(DType::Fp32), 4u);
}
