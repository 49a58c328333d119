// Host-side conversions between fp32 and the 16-bit storage formats (IEEE binary16 and bfloat16)
// that tidemark-train uses for activations under --precision fp16|bf16. Round to nearest, ties to
// even; NaN stays NaN, infinities and subnormals are kept.
#pragma once

#include <cstddef>
#include <cstdint>

namespace tidemark::train {

enum class DType : uint8_t { Fp32, Fp16, Bf16 };

constexpr size_t elementSize(DType t)
{
    return t == DType::Fp32 ? 4 : 2;
}
const char* dtypeName(DType t);

uint16_t floatToHalf(float f);
float halfToFloat(uint16_t h);
uint16_t floatToBf16(float f);
float bf16ToFloat(uint16_t b);

// Converts n values between fp32 and dtype-encoded storage (dst/src of elementSize(t) bytes each).
void storeFromFloat(const float* src, void* dst, DType t, size_t n);
void loadToFloat(const void* src, float* dst, DType t, size_t n);

} // namespace tidemark::train
