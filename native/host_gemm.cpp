// host_gemm.cpp: sumi_host_gemm, the host GEMM behind HostDevice.gemm.
//
// Semantics are cuBLAS cublasGemmStridedBatchedEx with CUBLAS_COMPUTE_32F (see sumi_host.h):
// column-major, for every batch i  C_i = alpha * op(A_i) * op(B_i) + beta * C_i,
// A/B in F32, F16 or BF16 (the same type), C in A's type or F32, products summed in F32,
// F16/BF16 results rounded to nearest even once, at the end. beta == 0: C is written, never read.
// alpha == 0 or k == 0: C = beta * C and A, B are not read (reference BLAS does the same).
//
// The method is BLIS's (Van Zee & van de Geijn, "BLIS: A Framework for Rapidly Instantiating BLAS
// Functionality", 2015). Dimension legend:
//   m, n, k   GEMM sizes: op(A) m x k, op(B) k x n, C m x n
//   MR x NR   micro-tile: the block of C one micro-kernel call holds in registers
//   MC x KC   block of op(A), packed into MR-row slivers (stays in L2 of the core that packed it)
//   KC x NC   panel of op(B), packed into NR-column slivers (shared by all threads, stays in L3)
//   mc/kc/nc  actual sizes of a block (smaller at the edges)
//
//   for jc in [0, n) step NC                      panel of columns of C
//     for pc in [0, k) step KC                    rank-kc update
//       pack op(B)[pc:pc+kc, jc:jc+nc]            -> Bp, kc x NR slivers    (parallel over slivers if large)
//       for each task (ic block x jn chunk)       (parallel over tasks)
//         pack op(A)[ic:ic+mc, pc:pc+kc]          -> Ap, kc x MR slivers    (thread's own buffer)
//         for jr step NR, ir step MR: micro-kernel(Ap sliver, Bp sliver) -> C tile (+=)
//
// Packing converts F16/BF16 to F32 and absorbs the transposes, so a single F32 micro-kernel serves
// every type and layout. Micro-kernels: AVX-512F 32x12, AVX2+FMA 16x6, portable 8x4; the library is
// built without -march, so the x86 ones carry target attributes and are picked at run time
// (SUMI_HOST_GEMM_ISA=scalar|avx2|avx512 forces a lower path, for tests).
//
// F32 C is updated in place (the first KC block applies the caller's beta, later ones add).
// F16/BF16 C would be rounded after every KC block that way, so when k needs several blocks the sums
// are kept in an F32 scratch (acc, m x nc) and C = round(alpha * acc + beta * C) is written once
// after the last block. When m is below half a micro-tile and n is larger, the transposed problem
// C^T = op(B)^T op(A)^T is solved instead, so that the long side fills the MR rows.
//
// Threads: the tiles of one GEMM are spread over host_pool's workers when m*n*k is large enough to
// pay for the wake-up; a batch of smaller GEMMs is spread one GEMM per thread. Scratch is
// thread_local, grown on demand and freed when its thread ends: per thread at most one MC x KC block
// of A, and for a calling thread one KC x NC panel of B (<= 6.3 MB) plus, for F16/BF16 C with k > KC,
// the F32 sums of one C panel (<= 32 MiB).
#include "host_fp.h"
#include "host_pool.h"
#include "sumi_host.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <functional>
#include <new>
#include <string>

#if defined(__x86_64__)
#if defined(__GNUC__) && !defined(__clang__)
// GCC 12's avx512fintrin.h self-initialises _mm512_undefined_* (GCC PR 105593): a false warning.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>
#endif

namespace sumi::host {
namespace {

constexpr int kMaxMR = 32;             // largest MR of any path (sizes the stack tile)
constexpr int kMaxNR = 12;             // largest NR of any path
constexpr int64_t kMaxKC = 512;        // largest KC of any path (sizes the stack row buffer)
constexpr int64_t kRunChunk = 384;     // packing converts runs this long at a time; a multiple of every MR and NR
// Thresholds, in multiply-adds (m*n*k). A parallel_for costs 20-50 us of wake-up here (2-vCPU VM),
// the time of ~2M multiply-adds: below kParallelWork one thread does the whole GEMM (measured: 128^3
// is slower on two threads, 256^3 faster), and a B panel is packed by one thread below kParallelPack
// elements.
constexpr double kParallelWork = 1 << 23;       // per GEMM, to spread its tiles
constexpr double kBatchParallelTotal = 1 << 21; // over the whole batch, to spread the GEMMs of a batch
constexpr int64_t kParallelPack = 1 << 18;
constexpr int64_t kAccScratchBytes = 32 << 20;  // cap on the F32 scratch of an F16/BF16 C panel

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
int64_t round_up(int64_t a, int64_t b) { return ceil_div(a, b) * b; }
int64_t elem_bytes(int32_t type) { return type == SUMI_F32 ? 4 : 2; }

// ---- scratch ------------------------------------------------------------------------------------
// A growable 64-byte-aligned float buffer; one of each kind per thread, freed when the thread ends.
class Scratch {
  public:
    Scratch() = default;
    Scratch(const Scratch&) = delete;
    Scratch& operator=(const Scratch&) = delete;
    ~Scratch() { std::free(data_); }

    float* get(int64_t floats) {
        size_t need = static_cast<size_t>(std::max<int64_t>(floats, 1)) * sizeof(float);
        if (need > bytes_) {
            std::free(data_);
            data_ = nullptr;
            bytes_ = 0;
            size_t bytes = (need + need / 4 + 63) & ~static_cast<size_t>(63);  // +25%: fewer regrowths
            void* p = std::aligned_alloc(64, bytes);
            if (!p) throw std::bad_alloc();
            data_ = static_cast<float*>(p);
            bytes_ = bytes;
        }
        return data_;
    }

  private:
    float* data_ = nullptr;
    size_t bytes_ = 0;
};

thread_local Scratch tl_a_pack;   // MC x KC block of op(A), this thread's tasks
thread_local Scratch tl_b_pack;   // KC x NC panel of op(B), owned by the thread that called gemm
thread_local Scratch tl_c_acc;    // F32 sums of an F16/BF16 C panel, owned by the calling thread

// ---- element conversion ------------------------------------------------------------------------
// cvt: n contiguous elements of one dtype -> n floats.
// store: dst[i] = round(alpha * acc[i] + beta * dst[i]) for i < n, dst of an F16/BF16 C;
//        with beta == 0 dst is not read.
using CvtFn = void (*)(const void* src, int64_t n, float* dst);
using StoreFn = void (*)(const float* acc, int64_t n, float alpha, float beta, void* dst);
// transpose: d[p*R + i] = src[i*ld + p] for i < r, p < kc; zero for r <= i < R.
using TransposeFn = void (*)(const float* src, int64_t ld, int r, int64_t kc, float* d, int R);
// micro-kernel: C[0:MR, 0:NR] (column-major, ldc) = alpha * Ap(kc x MR)^T Bp(kc x NR) + beta * C;
// beta == 0: C not read. Ap is 64-byte aligned.
using UkrFn = void (*)(int64_t kc, const float* ap, const float* bp, float* c, int64_t ldc, float alpha, float beta);

void cvt_f32(const void* src, int64_t n, float* dst) { std::memcpy(dst, src, static_cast<size_t>(n) * 4); }

void cvt_f16_scalar(const void* src, int64_t n, float* dst) {
    const uint16_t* s = static_cast<const uint16_t*>(src);
    for (int64_t i = 0; i < n; i++) dst[i] = fp::f16_to_f32(s[i]);
}

void cvt_bf16_scalar(const void* src, int64_t n, float* dst) {
    const uint16_t* s = static_cast<const uint16_t*>(src);
    for (int64_t i = 0; i < n; i++) dst[i] = fp::bf16_to_f32(s[i]);
}

inline float combine(float acc, float alpha, float beta, float old) {
    return beta == 0.0f ? alpha * acc : alpha * acc + beta * old;
}

void store_f16_scalar(const float* acc, int64_t n, float alpha, float beta, void* dst) {
    uint16_t* d = static_cast<uint16_t*>(dst);
    for (int64_t i = 0; i < n; i++) {
        float old = beta == 0.0f ? 0.0f : fp::f16_to_f32(d[i]);
        d[i] = fp::f32_to_f16_rn(combine(acc[i], alpha, beta, old));
    }
}

void store_bf16_scalar(const float* acc, int64_t n, float alpha, float beta, void* dst) {
    uint16_t* d = static_cast<uint16_t*>(dst);
    for (int64_t i = 0; i < n; i++) {
        float old = beta == 0.0f ? 0.0f : fp::bf16_to_f32(d[i]);
        d[i] = fp::f32_to_bf16_rn(combine(acc[i], alpha, beta, old));
    }
}

// One element of C, any type, for the strided (transposed-C) and scaling paths.
inline float load_c(const void* base, int32_t type, int64_t idx) {
    switch (type) {
        case SUMI_F32: return static_cast<const float*>(base)[idx];
        case SUMI_F16: return fp::f16_to_f32(static_cast<const uint16_t*>(base)[idx]);
        default: return fp::bf16_to_f32(static_cast<const uint16_t*>(base)[idx]);
    }
}

inline void store_c(void* base, int32_t type, int64_t idx, float v) {
    switch (type) {
        case SUMI_F32: static_cast<float*>(base)[idx] = v; break;
        case SUMI_F16: static_cast<uint16_t*>(base)[idx] = fp::f32_to_f16_rn(v); break;
        default: static_cast<uint16_t*>(base)[idx] = fp::f32_to_bf16_rn(v); break;
    }
}

// ---- portable micro-kernel (8 x 4) ------------------------------------------------------------
// Plain loops; the compiler vectorises them for the baseline ISA (SSE2, NEON).
void ukr_scalar_8x4(int64_t kc, const float* __restrict ap, const float* __restrict bp, float* c, int64_t ldc,
                    float alpha, float beta) {
    constexpr int MR = 8, NR = 4;
    float acc[NR][MR] = {};
    for (int64_t p = 0; p < kc; p++) {
        const float* a = ap + p * MR;
        const float* b = bp + p * NR;
        for (int j = 0; j < NR; j++) {
            float bj = b[j];
            for (int i = 0; i < MR; i++) acc[j][i] += a[i] * bj;
        }
    }
    for (int j = 0; j < NR; j++) {
        float* cj = c + j * ldc;
        if (beta == 0.0f) {
            for (int i = 0; i < MR; i++) cj[i] = alpha * acc[j][i];
        } else {
            for (int i = 0; i < MR; i++) cj[i] = alpha * acc[j][i] + beta * cj[i];
        }
    }
}

#if defined(__x86_64__)
// ---- AVX2 + FMA path (16 x 6: 12 accumulators + 2 A vectors + 1 broadcast of 16 ymm) ----------
__attribute__((target("avx2,fma"))) void ukr_avx2_16x6(int64_t kc, const float* __restrict ap,
                                                       const float* __restrict bp, float* c, int64_t ldc,
                                                       float alpha, float beta) {
    constexpr int NR = 6;
    __m256 acc[NR][2];
#pragma GCC unroll 6
    for (int j = 0; j < NR; j++) acc[j][0] = acc[j][1] = _mm256_setzero_ps();
    for (int64_t p = 0; p < kc; p++) {
        __m256 a0 = _mm256_load_ps(ap);
        __m256 a1 = _mm256_load_ps(ap + 8);
        _mm_prefetch(reinterpret_cast<const char*>(ap + 16 * 8), _MM_HINT_T0);
#pragma GCC unroll 6
        for (int j = 0; j < NR; j++) {
            __m256 b = _mm256_broadcast_ss(bp + j);
            acc[j][0] = _mm256_fmadd_ps(a0, b, acc[j][0]);
            acc[j][1] = _mm256_fmadd_ps(a1, b, acc[j][1]);
        }
        ap += 16;
        bp += NR;
    }
    __m256 va = _mm256_set1_ps(alpha);
    if (beta == 0.0f) {
#pragma GCC unroll 6
        for (int j = 0; j < NR; j++) {
            _mm256_storeu_ps(c + j * ldc, _mm256_mul_ps(va, acc[j][0]));
            _mm256_storeu_ps(c + j * ldc + 8, _mm256_mul_ps(va, acc[j][1]));
        }
    } else {
        __m256 vb = _mm256_set1_ps(beta);
#pragma GCC unroll 6
        for (int j = 0; j < NR; j++) {
            float* cj = c + j * ldc;
            _mm256_storeu_ps(cj, _mm256_fmadd_ps(vb, _mm256_loadu_ps(cj), _mm256_mul_ps(va, acc[j][0])));
            _mm256_storeu_ps(cj + 8, _mm256_fmadd_ps(vb, _mm256_loadu_ps(cj + 8), _mm256_mul_ps(va, acc[j][1])));
        }
    }
}

__attribute__((target("avx2,f16c"))) void cvt_f16_avx2(const void* src, int64_t n, float* dst) {
    const uint16_t* s = static_cast<const uint16_t*>(src);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i))));
    }
    if (i < n) {
        alignas(16) uint16_t t[8] = {};
        alignas(32) float f[8];
        std::memcpy(t, s + i, static_cast<size_t>(n - i) * 2);
        _mm256_store_ps(f, _mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(t))));
        std::memcpy(dst + i, f, static_cast<size_t>(n - i) * 4);
    }
}

__attribute__((target("avx2"))) void cvt_bf16_avx2(const void* src, int64_t n, float* dst) {
    const uint16_t* s = static_cast<const uint16_t*>(src);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i)));
        _mm256_storeu_ps(dst + i, _mm256_castsi256_ps(_mm256_slli_epi32(w, 16)));
    }
    for (; i < n; i++) dst[i] = fp::bf16_to_f32(s[i]);
}

__attribute__((target("avx2,fma,f16c"))) void store_f16_avx2(const float* acc, int64_t n, float alpha, float beta,
                                                             void* dst) {
    uint16_t* d = static_cast<uint16_t*>(dst);
    __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_mul_ps(va, _mm256_loadu_ps(acc + i));
        if (beta != 0.0f) {
            __m256 old = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(d + i)));
            v = _mm256_add_ps(v, _mm256_mul_ps(vb, old));
        }
        _mm_storeu_si128(reinterpret_cast<__m128i*>(d + i), _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    }
    store_f16_scalar(acc + i, n - i, alpha, beta, d + i);
}

// f32 bits -> bf16 bits in the low half of each lane, round to nearest even, NaN made quiet.
__attribute__((target("avx2"))) inline __m256i bf16_round_avx2(__m256 v) {
    __m256i u = _mm256_castps_si256(v);
    __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
    __m256i r = _mm256_srli_epi32(_mm256_add_epi32(u, _mm256_add_epi32(lsb, _mm256_set1_epi32(0x7fff))), 16);
    __m256i q = _mm256_or_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(0x40));
    __m256i nan = _mm256_castps_si256(_mm256_cmp_ps(v, v, _CMP_UNORD_Q));
    return _mm256_blendv_epi8(r, q, nan);
}

__attribute__((target("avx2"))) void store_bf16_avx2(const float* acc, int64_t n, float alpha, float beta, void* dst) {
    uint16_t* d = static_cast<uint16_t*>(dst);
    __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_mul_ps(va, _mm256_loadu_ps(acc + i));
        if (beta != 0.0f) {
            __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(d + i)));
            v = _mm256_add_ps(v, _mm256_mul_ps(vb, _mm256_castsi256_ps(_mm256_slli_epi32(w, 16))));
        }
        __m256i r = bf16_round_avx2(v);                                   // 8 x u32, values < 65536
        __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(r, r), 0x08);
        _mm_storeu_si128(reinterpret_cast<__m128i*>(d + i), _mm256_castsi256_si128(packed));
    }
    store_bf16_scalar(acc + i, n - i, alpha, beta, d + i);
}

// ---- AVX-512F path (32 x 12: 24 accumulators + 2 A vectors + broadcasts of 32 zmm) -------------
__attribute__((target("avx512f"))) void ukr_avx512_32x12(int64_t kc, const float* __restrict ap,
                                                         const float* __restrict bp, float* c, int64_t ldc,
                                                         float alpha, float beta) {
    constexpr int NR = 12;
    __m512 acc[NR][2];
#pragma GCC unroll 12
    for (int j = 0; j < NR; j++) acc[j][0] = acc[j][1] = _mm512_setzero_ps();
#pragma GCC unroll 12
    for (int j = 0; j < NR; j++) _mm_prefetch(reinterpret_cast<const char*>(c + j * ldc), _MM_HINT_T0);
    for (int64_t p = 0; p < kc; p++) {
        __m512 a0 = _mm512_load_ps(ap);
        __m512 a1 = _mm512_load_ps(ap + 16);
        _mm_prefetch(reinterpret_cast<const char*>(ap + 32 * 8), _MM_HINT_T0);
        _mm_prefetch(reinterpret_cast<const char*>(ap + 32 * 8 + 16), _MM_HINT_T0);
#pragma GCC unroll 12
        for (int j = 0; j < NR; j++) {
            __m512 b = _mm512_set1_ps(bp[j]);
            acc[j][0] = _mm512_fmadd_ps(a0, b, acc[j][0]);
            acc[j][1] = _mm512_fmadd_ps(a1, b, acc[j][1]);
        }
        ap += 32;
        bp += NR;
    }
    __m512 va = _mm512_set1_ps(alpha);
    if (beta == 0.0f) {
#pragma GCC unroll 12
        for (int j = 0; j < NR; j++) {
            _mm512_storeu_ps(c + j * ldc, _mm512_mul_ps(va, acc[j][0]));
            _mm512_storeu_ps(c + j * ldc + 16, _mm512_mul_ps(va, acc[j][1]));
        }
    } else {
        __m512 vb = _mm512_set1_ps(beta);
#pragma GCC unroll 12
        for (int j = 0; j < NR; j++) {
            float* cj = c + j * ldc;
            _mm512_storeu_ps(cj, _mm512_fmadd_ps(vb, _mm512_loadu_ps(cj), _mm512_mul_ps(va, acc[j][0])));
            _mm512_storeu_ps(cj + 16, _mm512_fmadd_ps(vb, _mm512_loadu_ps(cj + 16), _mm512_mul_ps(va, acc[j][1])));
        }
    }
}

__attribute__((target("avx512f"))) void cvt_f16_avx512(const void* src, int64_t n, float* dst) {
    const uint16_t* s = static_cast<const uint16_t*>(src);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        _mm512_storeu_ps(dst + i, _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(s + i))));
    }
    if (i < n) {
        __mmask16 mask = static_cast<__mmask16>((1u << (n - i)) - 1u);
        alignas(32) uint16_t t[16] = {};
        std::memcpy(t, s + i, static_cast<size_t>(n - i) * 2);
        _mm512_mask_storeu_ps(dst + i, mask, _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(t))));
    }
}

__attribute__((target("avx512f"))) void cvt_bf16_avx512(const void* src, int64_t n, float* dst) {
    const uint16_t* s = static_cast<const uint16_t*>(src);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512i w = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(s + i)));
        _mm512_storeu_ps(dst + i, _mm512_castsi512_ps(_mm512_slli_epi32(w, 16)));
    }
    for (; i < n; i++) dst[i] = fp::bf16_to_f32(s[i]);
}

__attribute__((target("avx512f"))) void store_f16_avx512(const float* acc, int64_t n, float alpha, float beta,
                                                         void* dst) {
    uint16_t* d = static_cast<uint16_t*>(dst);
    __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 v = _mm512_mul_ps(va, _mm512_loadu_ps(acc + i));
        if (beta != 0.0f) {
            __m512 old = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(d + i)));
            v = _mm512_add_ps(v, _mm512_mul_ps(vb, old));
        }
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(d + i),
                            _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    }
    store_f16_scalar(acc + i, n - i, alpha, beta, d + i);
}

__attribute__((target("avx512f"))) void store_bf16_avx512(const float* acc, int64_t n, float alpha, float beta,
                                                          void* dst) {
    uint16_t* d = static_cast<uint16_t*>(dst);
    __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    const __m512i one = _mm512_set1_epi32(1), bias = _mm512_set1_epi32(0x7fff), quiet = _mm512_set1_epi32(0x40);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 v = _mm512_mul_ps(va, _mm512_loadu_ps(acc + i));
        if (beta != 0.0f) {
            __m512i w = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(d + i)));
            v = _mm512_add_ps(v, _mm512_mul_ps(vb, _mm512_castsi512_ps(_mm512_slli_epi32(w, 16))));
        }
        __m512i u = _mm512_castps_si512(v);
        __m512i hi = _mm512_srli_epi32(u, 16);
        __m512i r = _mm512_srli_epi32(_mm512_add_epi32(u, _mm512_add_epi32(bias, _mm512_and_si512(hi, one))), 16);
        __mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
        r = _mm512_mask_blend_epi32(nan, r, _mm512_or_si512(hi, quiet));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(d + i), _mm512_cvtepi32_epi16(r));
    }
    store_bf16_scalar(acc + i, n - i, alpha, beta, d + i);
}

// d[p*R + i] = src[i*ld + p] for i < r, p < kc; 0 for r <= i < R (R <= 32). 16 x 16 blocks are
// transposed in registers: 32-bit, 64-bit, then two 128-bit-lane interleaves.
__attribute__((target("avx512f"))) void transpose_avx512(const float* src, int64_t ld, int r, int64_t kc, float* d, int R) {
    int64_t p = 0;
    for (; p + 16 <= kc; p += 16) {
        for (int i0 = 0; i0 < R; i0 += 16) {
            const int w = std::min(16, R - i0);                 // destination lanes of this block
            const __mmask16 store_mask = static_cast<__mmask16>((1u << w) - 1u);
            __m512 v[16], a[16], b[16];
            for (int i = 0; i < 16; i++) {
                v[i] = i0 + i < r ? _mm512_loadu_ps(src + (i0 + i) * ld + p) : _mm512_setzero_ps();
            }
            for (int i = 0; i < 8; i++) {       // a[2i] lane L: (2i,4L) (2i+1,4L) (2i,4L+1) (2i+1,4L+1)
                a[2 * i] = _mm512_unpacklo_ps(v[2 * i], v[2 * i + 1]);
                a[2 * i + 1] = _mm512_unpackhi_ps(v[2 * i], v[2 * i + 1]);
            }
            for (int i = 0; i < 4; i++) {       // b[4i+j] lane L: column 4L+j, rows 4i..4i+3
                __m512d x0 = _mm512_castps_pd(a[4 * i]), x1 = _mm512_castps_pd(a[4 * i + 1]);
                __m512d y0 = _mm512_castps_pd(a[4 * i + 2]), y1 = _mm512_castps_pd(a[4 * i + 3]);
                b[4 * i + 0] = _mm512_castpd_ps(_mm512_unpacklo_pd(x0, y0));
                b[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(x0, y0));
                b[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(x1, y1));
                b[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(x1, y1));
            }
            for (int j = 0; j < 4; j++) {       // columns j, 4+j, 8+j, 12+j, all 16 rows
                __m512 c1 = _mm512_shuffle_f32x4(b[j], b[4 + j], 0x88), c2 = _mm512_shuffle_f32x4(b[j], b[4 + j], 0xdd);
                __m512 c3 = _mm512_shuffle_f32x4(b[8 + j], b[12 + j], 0x88), c4 = _mm512_shuffle_f32x4(b[8 + j], b[12 + j], 0xdd);
                _mm512_mask_storeu_ps(d + (p + j) * R + i0, store_mask, _mm512_shuffle_f32x4(c1, c3, 0x88));
                _mm512_mask_storeu_ps(d + (p + 8 + j) * R + i0, store_mask, _mm512_shuffle_f32x4(c1, c3, 0xdd));
                _mm512_mask_storeu_ps(d + (p + 4 + j) * R + i0, store_mask, _mm512_shuffle_f32x4(c2, c4, 0x88));
                _mm512_mask_storeu_ps(d + (p + 12 + j) * R + i0, store_mask, _mm512_shuffle_f32x4(c2, c4, 0xdd));
            }
        }
    }
    for (; p < kc; p++) {
        for (int i = 0; i < R; i++) d[p * R + i] = i < r ? src[i * ld + p] : 0.0f;
    }
}
#endif  // __x86_64__

// ---- paths -----------------------------------------------------------------------------------
// Block sizes (this machine: AMD EPYC Zen 4, 32 KiB L1d and 1 MiB L2 per core, 32 MiB L3):
// a kc x NR sliver of Bp stays in L1 while the MC x KC block of Ap streams from L2 (MC*KC*4 <= half
// of L2); the KC x NC panel of Bp lives in L3.
struct Path {
    const char* name;
    int mr, nr;
    int64_t kc, mc, nc;   // nc is a multiple of nr, mc of mr
    UkrFn ukr;
    CvtFn cvt[3];         // by sumi_dtype of A/B
    StoreFn store[3];     // by sumi_dtype of C (F16, BF16; F32 C is written by the micro-kernel)
    TransposeFn transpose;  // packs runs along p into slivers; null: plain loops
};

const Path kScalarPath = {"scalar", 8, 4, 256, 128, 2048, ukr_scalar_8x4,
                          {cvt_f32, cvt_f16_scalar, cvt_bf16_scalar},
                          {nullptr, store_f16_scalar, store_bf16_scalar}, nullptr};

#if defined(__x86_64__)
const Path kAvx2Path = {"avx2+fma", 16, 6, 384, 192, 4092, ukr_avx2_16x6,
                        {cvt_f32, cvt_f16_avx2, cvt_bf16_avx2},
                        {nullptr, store_f16_avx2, store_bf16_avx2}, nullptr};
// AVX2 without F16C does not exist in practice, but is legal: keep the scalar F16 conversions there.
const Path kAvx2NoF16cPath = {"avx2+fma", 16, 6, 384, 192, 4092, ukr_avx2_16x6,
                              {cvt_f32, cvt_f16_scalar, cvt_bf16_avx2},
                              {nullptr, store_f16_scalar, store_bf16_avx2}, nullptr};
const Path kAvx512Path = {"avx512f", 32, 12, 384, 320, 4092, ukr_avx512_32x12,
                          {cvt_f32, cvt_f16_avx512, cvt_bf16_avx512},
                          {nullptr, store_f16_avx512, store_bf16_avx512}, transpose_avx512};
#endif

// The best path this CPU runs, lowered by SUMI_HOST_GEMM_ISA (scalar | avx2 | avx512; a request
// above what the CPU has gets the best it has). Decided once.
const Path& active_path() {
    static const Path* chosen = [] {
        int best = 0;  // 0 scalar, 1 avx2+fma, 2 avx512f
        bool f16c = false;
#if defined(__x86_64__)
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) best = 1;
        if (best == 1 && __builtin_cpu_supports("avx512f")) best = 2;
        f16c = __builtin_cpu_supports("f16c");
#endif
        int use = best;
        if (const char* env = std::getenv("SUMI_HOST_GEMM_ISA")) {
            std::string v(env);
            if (v == "scalar") use = 0;
            else if (v == "avx2") use = std::min(best, 1);
            else if (v == "avx512") use = std::min(best, 2);
        }
#if defined(__x86_64__)
        if (use == 2) return &kAvx512Path;
        if (use == 1) return f16c ? &kAvx2Path : &kAvx2NoF16cPath;
#endif
        (void)f16c;
        (void)use;
        return &kScalarPath;
    }();
    return *chosen;
}

// ---- packing ---------------------------------------------------------------------------------
// A panel source: a matrix M indexed (x, p), x the dimension split into slivers (rows of op(A),
// columns of op(B)), p the depth. Element (x, p) is at base[x + p*ld] when x_contiguous,
// else at base[p + x*ld].
struct Source {
    const char* base;
    int32_t type;
    bool x_contiguous;
    int64_t ld;
};

// Packs M[x0:x0+xn, p0:p0+kc] into ceil(xn/R) slivers: element (x0 + s*R + r, p0 + p) goes to
// dst[s*kc*R + p*R + r]; rows past xn in the last sliver are zero.
void pack_panel(const Path& P, const Source& S, int R, int64_t x0, int64_t xn, int64_t p0, int64_t kc, float* dst) {
    const CvtFn cvt = P.cvt[S.type];
    const int64_t es = elem_bytes(S.type);
    const int64_t slivers = ceil_div(xn, R);
    if (S.x_contiguous) {
        // Depth p is one contiguous run of xn elements: read it once, in order, and deal it out
        // R at a time to the slivers (reading sliver by sliver would touch a new page every R elements).
        alignas(64) float run[kRunChunk];
        for (int64_t p = 0; p < kc; p++) {
            const char* src = S.base + (x0 + (p0 + p) * S.ld) * es;
            for (int64_t c0 = 0; c0 < xn; c0 += kRunChunk) {       // kRunChunk is a multiple of every R
                const int64_t cn = std::min<int64_t>(kRunChunk, xn - c0);
                const float* f;
                if (S.type == SUMI_F32) {
                    f = reinterpret_cast<const float*>(src) + c0;
                } else {
                    cvt(src + c0 * es, cn, run);
                    f = run;
                }
                for (int64_t x = 0; x < cn; x += R) {
                    const int r = static_cast<int>(std::min<int64_t>(R, cn - x));
                    float* dp = dst + ((c0 + x) / R) * kc * R + p * R;
                    for (int i = 0; i < r; i++) dp[i] = f[x + i];
                    for (int i = r; i < R; i++) dp[i] = 0.0f;
                }
            }
        }
        return;
    }
    if (P.transpose) {
        // Each x is one contiguous run over p: F32 is transposed in place; F16/BF16 are converted
        // kRunChunk at a time for the sliver's r runs, then transposed from that buffer.
        for (int64_t s = 0; s < slivers; s++) {
            const int r = static_cast<int>(std::min<int64_t>(R, xn - s * R));
            const char* base = S.base + (p0 + (x0 + s * R) * S.ld) * es;
            float* d = dst + s * kc * R;
            if (S.type == SUMI_F32) {
                P.transpose(reinterpret_cast<const float*>(base), S.ld, r, kc, d, R);
                continue;
            }
            constexpr int64_t kPB = 64;
            alignas(64) float block[kMaxMR * kPB];
            for (int64_t p = 0; p < kc; p += kPB) {
                const int64_t pb = std::min<int64_t>(kPB, kc - p);
                for (int i = 0; i < r; i++) cvt(base + (p + i * S.ld) * es, pb, block + i * kPB);
                P.transpose(block, kPB, r, pb, d + p * R, R);
            }
        }
        return;
    }
    // Portable: convert each x's run over p (F32: read it in place) and scatter it with stride R.
    float row[kMaxKC];
    for (int64_t s = 0; s < slivers; s++) {
        const int r = static_cast<int>(std::min<int64_t>(R, xn - s * R));
        float* d = dst + s * kc * R;
        for (int i = 0; i < r; i++) {
            const char* src = S.base + (p0 + (x0 + s * R + i) * S.ld) * es;
            const float* f;
            if (S.type == SUMI_F32) {
                f = reinterpret_cast<const float*>(src);
            } else {
                cvt(src, kc, row);
                f = row;
            }
            for (int64_t p = 0; p < kc; p++) d[p * R + i] = f[p];
        }
        for (int i = r; i < R; i++) {
            for (int64_t p = 0; p < kc; p++) d[p * R + i] = 0.0f;
        }
    }
}

// ---- one GEMM of the batch --------------------------------------------------------------------
struct Job {
    Source a;         // op(A) as M(i, p)
    Source b;         // op(B) as M(j, p)
    char* c;
    int32_t c_type;
    int64_t ldc;
    bool c_trans;     // C(i, j) is at c[j + i*ldc] (the problem was transposed, see plan_job)
    int64_t m, n, k;
    float alpha, beta;
};

void for_each(bool parallel, int64_t n, const std::function<void(int64_t)>& body) {
    if (parallel) {
        parallel_for(n, body);
    } else {
        for (int64_t i = 0; i < n; i++) body(i);
    }
}

inline int64_t c_index(const Job& J, int64_t i, int64_t j) { return J.c_trans ? j + i * J.ldc : i + j * J.ldc; }

// C = beta * C (alpha == 0 or k == 0): C is not read when beta == 0.
void scale_c(const Job& J) {
    for (int64_t j = 0; j < J.n; j++) {
        for (int64_t i = 0; i < J.m; i++) {
            int64_t idx = c_index(J, i, j);
            store_c(J.c, J.c_type, idx, J.beta == 0.0f ? 0.0f : J.beta * load_c(J.c, J.c_type, idx));
        }
    }
}

// C[i:i+rows, j:j+cols] = round(alpha * t + beta * C), t column-major with leading dimension ldt;
// beta == 0: C not read. Vector stores for an F16/BF16 C in its own layout, element by element otherwise.
void write_tile(const Path& P, const Job& J, const float* t, int64_t ldt, int64_t i, int64_t j, int64_t rows, int64_t cols,
                float beta) {
    for (int64_t jj = 0; jj < cols; jj++) {
        const float* src = t + jj * ldt;
        if (!J.c_trans && J.c_type != SUMI_F32) {
            P.store[J.c_type](src, rows, J.alpha, beta, J.c + c_index(J, i, j + jj) * elem_bytes(J.c_type));
        } else {
            for (int64_t ii = 0; ii < rows; ii++) {
                const int64_t idx = c_index(J, i + ii, j + jj);
                const float old = beta == 0.0f ? 0.0f : load_c(J.c, J.c_type, idx);
                store_c(J.c, J.c_type, idx, combine(src[ii], J.alpha, beta, old));
            }
        }
    }
}

void gemm_one(const Path& P, const Job& J, bool parallel) {
    if (J.alpha == 0.0f || J.k == 0) {
        scale_c(J);
        return;
    }
    const int MR = P.mr, NR = P.nr;
    const int threads = parallel ? thread_count() : 1;

    // k in near-equal KC blocks, so that no block is a sliver.
    const int64_t k_blocks = ceil_div(J.k, P.kc);
    const int64_t kc_blk = ceil_div(J.k, k_blocks);

    // How tiles reach C:
    //   direct      F32 C in its own layout: the micro-kernel updates C (edge tiles go through a local tile)
    //   single      otherwise, with one KC block: local tile, then rounded into C
    //   accumulate  otherwise: F32 sums in acc across the KC blocks, rounded into C after the last one
    const bool direct = J.c_type == SUMI_F32 && !J.c_trans;
    const bool accumulate = !direct && k_blocks > 1;

    // m in ic blocks: at most MC rows, a multiple of MR, their count a multiple of the thread count
    // where m allows, so that tasks come out even.
    const int64_t m_slivers = ceil_div(J.m, MR);
    int64_t ic_blocks = ceil_div(J.m, P.mc);
    if (threads > 1 && ic_blocks % threads != 0) ic_blocks = std::min(round_up(ic_blocks, threads), m_slivers);
    const int64_t mc_blk = round_up(ceil_div(J.m, ic_blocks), MR);
    ic_blocks = ceil_div(J.m, mc_blk);

    // Columns per jc panel; acc holds the panel's sums, padded to whole tiles (ld = ld_acc).
    int64_t nc_max = P.nc;
    const int64_t ld_acc = round_up(J.m, MR);
    float* acc = nullptr;
    if (accumulate) {
        nc_max = std::clamp<int64_t>(kAccScratchBytes / (ld_acc * 4) / NR * NR, NR, P.nc);
        acc = tl_c_acc.get(ld_acc * round_up(std::min(J.n, nc_max), NR));
    }

    for (int64_t jc = 0; jc < J.n; jc += nc_max) {
        const int64_t nc = std::min(nc_max, J.n - jc);
        const int64_t n_slivers = ceil_div(nc, NR);
        // Too few ic blocks to feed every thread: also split the panel's columns.
        int64_t jn_chunks = 1;
        if (threads > 1 && ic_blocks < threads) jn_chunks = std::min(n_slivers, 2 * ceil_div(threads, ic_blocks));
        const int64_t jn_blk = round_up(ceil_div(nc, jn_chunks), NR);
        jn_chunks = ceil_div(nc, jn_blk);
        float* bp = tl_b_pack.get(round_up(nc, NR) * kc_blk);

        for (int64_t pc = 0; pc < J.k; pc += kc_blk) {
            const int64_t kc = std::min(kc_blk, J.k - pc);
            const bool first = pc == 0, last = pc + kc == J.k;
            const float beta = first ? J.beta : 1.0f;   // later KC blocks add to what the first wrote

            // Bp: n_slivers slivers of kc x NR, in groups of several slivers per task.
            const int64_t b_groups = std::min<int64_t>(n_slivers, 4 * threads);
            const int64_t b_per = ceil_div(n_slivers, b_groups);
            for_each(parallel && b_groups > 1 && nc * kc >= kParallelPack, ceil_div(n_slivers, b_per), [&](int64_t g) {
                int64_t s0 = g * b_per, s1 = std::min(n_slivers, s0 + b_per);
                int64_t x0 = s0 * NR, xn = std::min(nc, s1 * NR) - x0;
                pack_panel(P, J.b, NR, jc + x0, xn, pc, kc, bp + s0 * NR * kc);
            });

            for_each(parallel, ic_blocks * jn_chunks, [&](int64_t task) {
                const int64_t i0 = (task / jn_chunks) * mc_blk;
                const int64_t j0 = (task % jn_chunks) * jn_blk;
                const int64_t mc = std::min(mc_blk, J.m - i0);
                const int64_t jn = std::min(jn_blk, nc - j0);
                if (mc <= 0 || jn <= 0) return;
                float* ap = tl_a_pack.get(round_up(mc, MR) * kc);
                pack_panel(P, J.a, MR, i0, mc, pc, kc, ap);
                alignas(64) float tile[kMaxMR * kMaxNR];

                for (int64_t jr = j0; jr < j0 + jn; jr += NR) {
                    const int nr = static_cast<int>(std::min<int64_t>(NR, j0 + jn - jr));
                    const float* bs = bp + (jr / NR) * NR * kc;
                    for (int64_t ir = 0; ir < mc; ir += MR) {
                        const int mr = static_cast<int>(std::min<int64_t>(MR, mc - ir));
                        const float* as = ap + (ir / MR) * MR * kc;
                        const int64_t i = i0 + ir, j = jc + jr;
                        if (accumulate) {
                            P.ukr(kc, as, bs, acc + i + jr * ld_acc, ld_acc, 1.0f, first ? 0.0f : 1.0f);
                        } else if (direct && mr == MR && nr == NR) {
                            P.ukr(kc, as, bs, reinterpret_cast<float*>(J.c) + i + j * J.ldc, J.ldc, J.alpha, beta);
                        } else {
                            P.ukr(kc, as, bs, tile, MR, 1.0f, 0.0f);
                            write_tile(P, J, tile, MR, i, j, mr, nr, beta);
                        }
                    }
                }
                if (accumulate && last) write_tile(P, J, acc + i0 + j0 * ld_acc, ld_acc, i0, jc + j0, mc, jn, J.beta);
            });
        }
    }
}

// ---- validation and batching --------------------------------------------------------------------
std::string check(const sumi_gemm_params& p) {
    auto type_ok = [](int32_t t) { return t == SUMI_F32 || t == SUMI_F16 || t == SUMI_BF16; };
    auto type_name = [](int32_t t) -> std::string {
        switch (t) {
            case SUMI_F32: return "F32";
            case SUMI_F16: return "F16";
            case SUMI_BF16: return "BF16";
            default: return "type code " + std::to_string(t);
        }
    };
    if (p.m < 0 || p.n < 0 || p.k < 0 || p.batch < 0) {
        return "gemm: negative size m=" + std::to_string(p.m) + " n=" + std::to_string(p.n) + " k=" + std::to_string(p.k) +
               " batch=" + std::to_string(p.batch);
    }
    if (!type_ok(p.a_type)) return "gemm: A has unsupported " + type_name(p.a_type) + " (F32, F16 or BF16)";
    if (p.b_type != p.a_type) return "gemm: A is " + type_name(p.a_type) + " but B is " + type_name(p.b_type) + " (they must match)";
    if (p.c_type != p.a_type && p.c_type != SUMI_F32) {
        return "gemm: C must be " + type_name(p.a_type) + " or F32, not " + type_name(p.c_type);
    }
    if (p.trans_a != 0 && p.trans_a != 1) return "gemm: trans_a must be 0 or 1, not " + std::to_string(p.trans_a);
    if (p.trans_b != 0 && p.trans_b != 1) return "gemm: trans_b must be 0 or 1, not " + std::to_string(p.trans_b);
    const int64_t a_rows = p.trans_a ? p.k : p.m, b_rows = p.trans_b ? p.n : p.k;
    if (p.lda < std::max<int64_t>(1, a_rows)) return "gemm: lda=" + std::to_string(p.lda) + " is less than the " + std::to_string(a_rows) + " rows of A";
    if (p.ldb < std::max<int64_t>(1, b_rows)) return "gemm: ldb=" + std::to_string(p.ldb) + " is less than the " + std::to_string(b_rows) + " rows of B";
    if (p.ldc < std::max<int64_t>(1, p.m)) return "gemm: ldc=" + std::to_string(p.ldc) + " is less than the " + std::to_string(p.m) + " rows of C";
    if (p.stride_a < 0 || p.stride_b < 0 || p.stride_c < 0) return "gemm: negative batch stride";
    const bool any = p.batch > 0 && p.m > 0 && p.n > 0;
    const bool reads_ab = any && p.k > 0 && p.alpha != 0.0f;
    if (any && p.c == nullptr) return "gemm: C is null";
    if (reads_ab && p.a == nullptr) return "gemm: A is null";
    if (reads_ab && p.b == nullptr) return "gemm: B is null";
    return {};
}

int32_t gemm(const sumi_gemm_params& p) {
    const Path& P = active_path();
    const int threads = thread_count();
    const double work = static_cast<double>(p.m) * static_cast<double>(p.n) * static_cast<double>(p.k);

    // A and B may be null where they are not read (k == 0 or alpha == 0): no arithmetic on null.
    auto at = [](const void* base, int64_t elements, int32_t type) {
        return base ? static_cast<const char*>(base) + elements * elem_bytes(type) : nullptr;
    };
    auto job_for = [&](int64_t batch) {
        Job J;
        J.a = Source{at(p.a, batch * p.stride_a, p.a_type), p.a_type, p.trans_a == 0, p.lda};
        J.b = Source{at(p.b, batch * p.stride_b, p.b_type), p.b_type, p.trans_b != 0, p.ldb};
        J.c = static_cast<char*>(p.c) + batch * p.stride_c * elem_bytes(p.c_type);
        J.c_type = p.c_type;
        J.ldc = p.ldc;
        J.c_trans = false;
        J.m = p.m;
        J.n = p.n;
        J.k = p.k;
        J.alpha = p.alpha;
        J.beta = p.beta;
        // C^T = op(B)^T op(A)^T: when m is too small to fill a micro-tile's MR rows and n is larger,
        // solve the transposed problem so that n runs along MR (C is then written transposed).
        if (J.m * 2 <= P.mr && J.n > J.m) {
            std::swap(J.a, J.b);
            std::swap(J.m, J.n);
            J.c_trans = true;
        }
        return J;
    };

    // A batch of GEMMs too small to spread their tiles, or enough of them to come out even: one thread
    // per GEMM. Otherwise one GEMM at a time, its tiles spread.
    const bool batch_parallel = threads > 1 && p.batch > 1 && work * static_cast<double>(p.batch) >= kBatchParallelTotal &&
                                (work < kParallelWork || p.batch % threads == 0 || p.batch >= 4 * threads);
    if (batch_parallel) {
        parallel_for(p.batch, [&](int64_t i) { gemm_one(P, job_for(i), false); });
    } else {
        const bool tiles_parallel = threads > 1 && work >= kParallelWork;
        for (int64_t i = 0; i < p.batch; i++) gemm_one(P, job_for(i), tiles_parallel);
    }
    return 0;
}

}  // namespace
}  // namespace sumi::host

extern "C" int32_t sumi_host_gemm(const sumi_gemm_params* params) {
    using namespace sumi::host;
    if (params == nullptr) {
        set_last_error("gemm: params is null");
        return 1;
    }
    std::string error = check(*params);
    if (!error.empty()) {
        set_last_error(error);
        return 1;
    }
    if (params->m == 0 || params->n == 0 || params->batch == 0) return 0;
    try {
        return gemm(*params);
    } catch (const std::bad_alloc&) {
        set_last_error("gemm: out of host memory for packing buffers (m=" + std::to_string(params->m) + " n=" +
                       std::to_string(params->n) + " k=" + std::to_string(params->k) + ")");
        return 2;
    } catch (const std::exception& e) {
        set_last_error(std::string("gemm: ") + e.what());
        return 2;
    } catch (...) {
        set_last_error("gemm: unknown failure");
        return 2;
    }
}

// Which micro-kernel path sumi_host_gemm uses: "avx512f", "avx2+fma" or "scalar".
extern "C" const char* sumi_host_gemm_isa(void) { return sumi::host::active_path().name; }
