// mma.cuh: warp-level tensor-core tiles for 16-bit storage types (F16, BF16), F32 accumulation.
//
// The unit is PTX's mma.sync.aligned.m16n8k16.row.col: a warp multiplies A (16 x 16, row-major) by
// B (16 x 8) into C (16 x 8, float). Fragments, per lane (g = lane / 4, t = lane % 4; a register
// holds two 16-bit values, the lower column/row in the low half):
//   A[4]: a0 = A[g][2t, 2t+1]   a1 = A[g+8][2t, 2t+1]   a2 = A[g][2t+8, +9]   a3 = A[g+8][2t+8, +9]
//   B[2]: b0 = B[2t, 2t+1][g]   b1 = B[2t+8, 2t+9][g]
//   C[4]: c0, c1 = C[g][2t, 2t+1]   c2, c3 = C[g+8][2t, 2t+1]
// (PTX ISA, "Matrix Fragments for mma.m16n8k16 with floating point type".)
//
// Targets: sm_80+ runs the instructions (mma.sync, ldmatrix, cp.async). The host build (through
// native/cuda_host.h) runs the same fragment contract in plain code: fragments are read element by
// element from shared memory and the product goes through a per-warp shared scratch. That path is
// slow but exact to the contract, so the host tests check the tiling and masking logic of the
// tensor-core kernels. (It would compile for sm_75 too, which lacks m16n8k16 for BF16, but the
// kernels do not instantiate it there: AttentionOps uses the scalar kernels below sm_80.)
#pragma once
#include <type_traits>

#include "common.cuh"

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
#define SUMI_MMA_NATIVE 1
#else
#define SUMI_MMA_NATIVE 0
#endif

namespace sumi::mma {

// warps per block the scratch of the emulated product is sized for
constexpr int MAX_WARPS = 8;

template <class T> __device__ __forceinline__ uint16_t bits16(T x);
template <> __device__ __forceinline__ uint16_t bits16<__half>(__half x) { return __half_as_ushort(x); }
template <> __device__ __forceinline__ uint16_t bits16<__nv_bfloat16>(__nv_bfloat16 x) { return __bfloat16_as_ushort(x); }

__device__ __forceinline__ float half_to_float(__half*, uint16_t u) { return __half2float(__ushort_as_half(u)); }
__device__ __forceinline__ float half_to_float(__nv_bfloat16*, uint16_t u) { return __bfloat162float(__ushort_as_bfloat16(u)); }

// two floats rounded to T into one register, lo in the low half
template <class T>
__device__ __forceinline__ uint32_t pack(float lo, float hi) {
    return static_cast<uint32_t>(bits16(from_float<T>(lo))) | (static_cast<uint32_t>(bits16(from_float<T>(hi))) << 16);
}

// two stored T values into one register
template <class T>
__device__ __forceinline__ uint32_t pack_bits(T lo, T hi) {
    return static_cast<uint32_t>(bits16(lo)) | (static_cast<uint32_t>(bits16(hi)) << 16);
}

// the two consecutive T at p (4-byte aligned)
template <class T>
__device__ __forceinline__ uint32_t load_pair(const T* p) {
    return pack_bits(p[0], p[1]);
}

// ---- C += A B ------------------------------------------------------------------------------------
template <class T>
__device__ __forceinline__ void mma_16x8x16(float c[4], const uint32_t a[4], const uint32_t b[2]) {
#if SUMI_MMA_NATIVE
    if constexpr (std::is_same_v<T, __nv_bfloat16>) {
        asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                     : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                     : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
    } else {
        asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                     : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                     : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
    }
#else
    // every lane publishes its fragments; each then computes its four outputs from the whole tiles
    __shared__ uint32_t scratch[MAX_WARPS][32][6];
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, g = lane / 4, t = lane % 4;
    uint32_t* mine = scratch[warp][lane];
    for (int i = 0; i < 4; ++i) mine[i] = a[i];
    mine[4] = b[0];
    mine[5] = b[1];
    __syncwarp();
    // A[r][k]: lane 4 * (r % 8) + (k % 8) / 2, register (r / 8) + 2 * (k / 8), half k % 2
    // B[k][n]: lane 4 * n + (k % 8) / 2, register 4 + k / 8, half k % 2
    for (int i = 0; i < 4; ++i) {
        const int r = g + (i / 2) * 8, n = 2 * t + i % 2;
        float acc = c[i];
        for (int k = 0; k < 16; ++k) {
            const uint32_t ra = scratch[warp][4 * (r % 8) + (k % 8) / 2][r / 8 + 2 * (k / 8)];
            const uint32_t rb = scratch[warp][4 * n + (k % 8) / 2][4 + k / 8];
            const float fa = half_to_float(static_cast<T*>(nullptr), static_cast<uint16_t>(ra >> (16 * (k % 2))));
            const float fb = half_to_float(static_cast<T*>(nullptr), static_cast<uint16_t>(rb >> (16 * (k % 2))));
            acc = fmaf(fa, fb, acc);
        }
        c[i] = acc;
    }
    __syncwarp();  // the scratch is free for the next product
#endif
}

// ---- fragments from shared memory (row-major tiles, `stride` elements per row, 16-byte aligned rows)

// A fragment of the 16 x 16 block at (r0, c0) of a row-major [rows][cols] tile
template <class T>
__device__ __forceinline__ void load_a(uint32_t a[4], const T* s, int stride, int r0, int c0) {
    const int lane = threadIdx.x % 32;
#if SUMI_MMA_NATIVE
    const T* row = s + (r0 + lane % 8 + ((lane / 8) % 2) * 8) * stride + c0 + (lane / 16) * 8;
    const uint32_t addr = static_cast<uint32_t>(__cvta_generic_to_shared(row));
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(a[0]), "=r"(a[1]), "=r"(a[2]), "=r"(a[3]) : "r"(addr));
#else
    const int g = lane / 4, t = lane % 4;
    a[0] = load_pair(s + (r0 + g) * stride + c0 + 2 * t);
    a[1] = load_pair(s + (r0 + g + 8) * stride + c0 + 2 * t);
    a[2] = load_pair(s + (r0 + g) * stride + c0 + 2 * t + 8);
    a[3] = load_pair(s + (r0 + g + 8) * stride + c0 + 2 * t + 8);
#endif
}

// B fragment with B[k][n] = s[n0 + n][k0 + k]: the tile holds B transposed (keys x head dim for S = Q K^T)
template <class T>
__device__ __forceinline__ void load_b_nk(uint32_t b[2], const T* s, int stride, int n0, int k0) {
    const int lane = threadIdx.x % 32;
#if SUMI_MMA_NATIVE
    const int l = lane % 16;
    const T* row = s + (n0 + l % 8) * stride + k0 + (l / 8) * 8;
    const uint32_t addr = static_cast<uint32_t>(__cvta_generic_to_shared(row));
    asm volatile("ldmatrix.sync.aligned.m8n8.x2.shared.b16 {%0,%1}, [%2];\n" : "=r"(b[0]), "=r"(b[1]) : "r"(addr));
#else
    const int g = lane / 4, t = lane % 4;
    b[0] = load_pair(s + (n0 + g) * stride + k0 + 2 * t);
    b[1] = load_pair(s + (n0 + g) * stride + k0 + 2 * t + 8);
#endif
}

// B fragment with B[k][n] = s[k0 + k][n0 + n]: the tile holds B as is (keys x head dim for O = P V)
template <class T>
__device__ __forceinline__ void load_b_kn(uint32_t b[2], const T* s, int stride, int k0, int n0) {
    const int lane = threadIdx.x % 32;
#if SUMI_MMA_NATIVE
    const T* row = s + (k0 + lane % 16) * stride + n0;
    const uint32_t addr = static_cast<uint32_t>(__cvta_generic_to_shared(row));
    asm volatile("ldmatrix.sync.aligned.m8n8.x2.trans.shared.b16 {%0,%1}, [%2];\n" : "=r"(b[0]), "=r"(b[1]) : "r"(addr));
#else
    const int g = lane / 4, t = lane % 4;
    b[0] = pack_bits(s[(k0 + 2 * t) * stride + n0 + g], s[(k0 + 2 * t + 1) * stride + n0 + g]);
    b[1] = pack_bits(s[(k0 + 2 * t + 8) * stride + n0 + g], s[(k0 + 2 * t + 9) * stride + n0 + g]);
#endif
}

// A fragment (16 rows x 16 k) from two C fragments of the same rows, columns k and k + 8: the scores
// of one product become the left operand of the next without shared memory (FlashAttention-2)
template <class T>
__device__ __forceinline__ void a_from_c(uint32_t a[4], const float lo[4], const float hi[4]) {
    a[0] = pack<T>(lo[0], lo[1]);
    a[1] = pack<T>(lo[2], lo[3]);
    a[2] = pack<T>(hi[0], hi[1]);
    a[3] = pack<T>(hi[2], hi[3]);
}

// ---- global -> shared copies ---------------------------------------------------------------------

// 16 bytes from global to shared, asynchronous on sm_80+ (complete after wait_async + a barrier)
__device__ __forceinline__ void copy16_async(void* dst, const void* src) {
#if SUMI_MMA_NATIVE
    const uint32_t addr = static_cast<uint32_t>(__cvta_generic_to_shared(dst));
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" :: "r"(addr), "l"(src));
#else
    uint64_t* d = static_cast<uint64_t*>(dst);
    const uint64_t* s = static_cast<const uint64_t*>(src);
    d[0] = s[0];
    d[1] = s[1];
#endif
}

// closes the group of copies issued since the last commit
__device__ __forceinline__ void commit_async() {
#if SUMI_MMA_NATIVE
    asm volatile("cp.async.commit_group;\n" ::);
#endif
}

// waits until at most `pending` committed groups of this thread are still in flight
template <int pending>
__device__ __forceinline__ void wait_async() {
#if SUMI_MMA_NATIVE
    asm volatile("cp.async.wait_group %0;\n" :: "n"(pending) : "memory");
#endif
}

}  // namespace sumi::mma
