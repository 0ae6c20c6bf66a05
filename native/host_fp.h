// host_fp.h: IEEE half and bfloat16 conversions for host code, bit-exact with the GPU's
// __float2half_rn / __half2float / __float2bfloat16_rn / __bfloat162float (round to nearest even,
// subnormals kept, overflow to infinity, NaN stays NaN).
#pragma once
#include <cstdint>
#include <cstring>

namespace sumi::fp {

inline uint32_t bits_of(float f) { uint32_t u; std::memcpy(&u, &f, 4); return u; }
inline float float_of(uint32_t u) { float f; std::memcpy(&f, &u, 4); return f; }

inline float f16_to_f32(uint16_t h) {
    uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    if (exp == 0x1f) return float_of(sign | 0x7f800000u | (man << 13));        // inf / nan
    if (exp != 0) return float_of(sign | ((exp + 112) << 23) | (man << 13));   // normal
    if (man == 0) return float_of(sign);                                       // zero
    // subnormal: man * 2^-24, exact in float
    float v = static_cast<float>(man) * 0x1p-24f;
    return sign ? -v : v;
}

inline uint16_t f32_to_f16_rn(float f) {
    uint32_t u = bits_of(f);
    uint32_t sign = (u >> 16) & 0x8000u;
    uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u | ((a >> 13) & 0x3ffu));  // nan, quiet
    if (a >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // rounds to >= 65520: inf
    if (a >= 0x38800000u) {                                                // normal half
        uint32_t mant_lsb = (a >> 13) & 1u;
        a += 0xfffu + mant_lsb;                                           // round to nearest even
        return static_cast<uint16_t>(sign | ((a - 0x38000000u) >> 13));
    }
    if (a < 0x33000000u) return static_cast<uint16_t>(sign);               // < 2^-25: rounds to zero
    // subnormal half: value = m * 2^-24 with m in [0, 1024]
    uint32_t exp = a >> 23;
    uint32_t man = (a & 0x7fffffu) | 0x800000u;
    uint32_t shift = 126 - exp;          // 14 + (112 - exp), in [14, 24] here
    uint32_t rest_mask = (1u << shift) - 1u;
    uint32_t half_way = 1u << (shift - 1);
    uint32_t m = man >> shift;
    uint32_t rest = man & rest_mask;
    if (rest > half_way || (rest == half_way && (m & 1u))) m++;
    return static_cast<uint16_t>(sign | m);
}

inline float bf16_to_f32(uint16_t h) { return float_of(static_cast<uint32_t>(h) << 16); }

inline uint16_t f32_to_bf16_rn(float f) {
    uint32_t u = bits_of(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);  // quiet nan
    u += 0x7fffu + ((u >> 16) & 1u);
    return static_cast<uint16_t>(u >> 16);
}

}  // namespace sumi::fp
