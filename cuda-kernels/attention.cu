// attention.cu: flash-style scaled dot-product attention, forward and backward.
//
//   out = softmax(Q K^T * scale [+ causal mask]) V          per (batch b, head h)
//
// Legend: B = batch, H = heads, Tq = queries, Tk = keys, D = head dim (1..160).
//   q, dq        (B, Tq, H, D)  strided: element (b, t, h, d) at b*q_sb + t*q_sr + h*q_sh + d
//   k, v, dk, dv (B, Tk, H, D)  strided likewise with k_* and v_* strides
//   out, dout    (B, Tq, H, D)  strided with o_* strides
//   lse, delta   (B, H, Tq)     contiguous, F32
// A gradient always has the layout of its tensor (dq of q, dk of k, dv of v, dout of out), so the
// [B, T, H*D] outputs of the q/k/v projections (or one fused [B, T, 3*H*D] projection) are read and
// their gradients written in place, without a permute.
//
// Contract: out, lse, delta, dq, dk, dv are written with `=` (every element of their layout exactly
// once); nothing accumulates. All math and every sum in float, rounded once on store. The order of
// every sum is fixed by the tiling, so results are bit-reproducible on both targets (no atomics).
//
// The Java side (ops/AttentionParams) validates the sizes and strides once and passes them as
// scalars; each SUMI_KERNEL wrapper rebuilds them into one `Params` struct (flash.h's Flash_fwd_params
// in spirit) for the __device__ bodies. The kernel manifest has no struct parameters, and scalars need
// no per-call device allocation or upload.
//
// Structure (FlashAttention-2):
//  - forward: one block per (query tile of FWD_BR rows, b*h); key tiles of FWD_BC rows stream
//    through shared memory; an online softmax (running max m, running sum l, rescale factor alpha)
//    keeps the O accumulator exact without the Tq x Tk score matrix; lse = m + log(l) is saved.
//  - backward: delta = rowsum(dout * out) first (attention_bwd_delta), then two kernels that
//    recompute P = exp(S - lse) tile by tile: attention_bwd_dkdv (one block per key tile, looping
//    over query tiles; dk, dv accumulate in registers) and attention_bwd_dq (one block per query
//    tile, looping over key tiles; dq in registers). Two kernels instead of one with an atomic dq
//    accumulation cost one more S/dP recomputation but keep the backward deterministic everywhere.
//
// Tile sizes and shared memory (float tiles, bytes = 4 * floats; the 48 KiB launch limit is met at
// D = 160; AttentionOps.forwardSharedBytes / backwardSharedBytes compute the same numbers):
//   forward  (BR 16, BC 32, 128 threads): Q[BR][D] + O[BR][D] + K|V[BC][D] + S[BR][BC] + m, l, alpha[BR]
//            D =  40: 12,480 B   D =  64: 18,624 B   D =  80: 22,720 B   D = 160: 43,200 B
//   backward (BR 16, BC 16, 128 threads): Q, dO[BR][D] + K, V[BC][D] + P, dS[BR][BC] + lse, delta[BR]
//            D =  40: 12,416 B   D =  64: 18,560 B   D =  80: 22,656 B   D = 160: 43,136 B
//            plus 2 x 20 (dkdv) or 20 (dq) float accumulators per thread in registers.
// These kernels favour clarity: scalar FMA loops over shared memory, one thread per row for the
// online-softmax bookkeeping. They serve F32 storage, GPUs below sm_80 and the host build; F16/BF16
// on sm_80+ run attention_mma.cu's tensor-core kernels (same contract; AttentionOps picks).
#include "attention.cuh"

namespace sumi::attention {

constexpr int THREADS = 128;
constexpr int MAX_HEAD_DIM = 160;
constexpr int FWD_BR = 16, FWD_BC = 32;
constexpr int BWD_BR = 16, BWD_BC = 16;
// register accumulators per thread in the backward: a [16][D <= 160] tile over 128 threads
constexpr int BWD_ACC = CEIL_DIV(BWD_BC * MAX_HEAD_DIM, THREADS);
static_assert(BWD_BR == BWD_BC, "dq and dk/dv share the accumulator size");

// rows [row0, row0 + rows) of a (T, D) matrix with row stride `stride` into dst[rows][D] as float;
// rows at or past `limit` are zero
template <class T>
__device__ void load_tile(float* dst, const T* src, int64_t stride, int row0, int rows, int limit, int D) {
    for (int i = threadIdx.x; i < rows * D; i += blockDim.x) {
        const int r = i / D, d = i - r * D, t = row0 + r;
        dst[i] = t < limit ? to_float(src[t * stride + d]) : 0.0f;
    }
}

__device__ __forceinline__ float dot(const float* a, const float* b, int D) {
    float acc = 0.0f;
    for (int d = 0; d < D; ++d) acc = fmaf(a[d], b[d], acc);
    return acc;
}

// ---- forward -------------------------------------------------------------------------------------

template <class T>
__device__ void forward(T* out, float* lse, const T* q, const T* k, const T* v, const Params& p) {
    SUMI_DYNAMIC_SHARED(float, smem);
    const int D = p.D, tid = threadIdx.x;
    float* sQ = smem;                   // [BR][D]
    float* sO = sQ + FWD_BR * D;        // [BR][D] unnormalised output
    float* sKV = sO + FWD_BR * D;       // [BC][D] the K tile, then the V tile
    float* sS = sKV + FWD_BC * D;       // [BR][BC] scores, then probabilities
    float* sM = sS + FWD_BR * FWD_BC;   // [BR] running max
    float* sL = sM + FWD_BR;            // [BR] running sum
    float* sA = sL + FWD_BR;            // [BR] rescale factor of this tile

    const int q0 = blockIdx.x * FWD_BR, bh = blockIdx.y, b = bh / p.H, h = bh % p.H;
    const T* qb = q + b * p.q_sb + h * p.q_sh;
    const T* kb = k + b * p.k_sb + h * p.k_sh;
    const T* vb = v + b * p.v_sb + h * p.v_sh;
    T* ob = out + b * p.o_sb + h * p.o_sh;

    load_tile(sQ, qb, p.q_sr, q0, FWD_BR, p.Tq, D);
    for (int i = tid; i < FWD_BR * D; i += blockDim.x) sO[i] = 0.0f;
    if (tid < FWD_BR) { sM[tid] = -INFINITY; sL[tid] = 0.0f; }

    const int kend = p.causal ? min(p.Tk, q0 + FWD_BR) : p.Tk;
    for (int k0 = 0; k0 < kend; k0 += FWD_BC) {
        __syncthreads();  // sQ ready; the previous tile's sKV and sS are consumed
        load_tile(sKV, kb, p.k_sr, k0, FWD_BC, p.Tk, D);
        __syncthreads();
        for (int i = tid; i < FWD_BR * FWD_BC; i += blockDim.x) {
            const int r = i / FWD_BC, c = i - r * FWD_BC;
            sS[i] = visible(p, q0 + r, k0 + c) ? dot(sQ + r * D, sKV + c * D, D) * p.scale : -INFINITY;
        }
        __syncthreads();
        if (tid < FWD_BR) {  // online softmax, one thread per query row
            float* s = sS + tid * FWD_BC;
            const float m_old = sM[tid];
            float m = m_old;
            for (int c = 0; c < FWD_BC; ++c) m = fmaxf(m, s[c]);
            float sum = 0.0f;
            for (int c = 0; c < FWD_BC; ++c) {
                const float e = m == -INFINITY ? 0.0f : expf(s[c] - m);  // no visible key yet: all zero
                s[c] = e;
                sum += e;
            }
            const float alpha = m == -INFINITY ? 1.0f : expf(m_old - m);  // exp(-inf) = 0 on the first visible tile
            sL[tid] = sL[tid] * alpha + sum;
            sM[tid] = m;
            sA[tid] = alpha;
        }
        load_tile(sKV, vb, p.v_sr, k0, FWD_BC, p.Tk, D);  // K is no longer read
        __syncthreads();
        for (int i = tid; i < FWD_BR * D; i += blockDim.x) {
            const int r = i / D, d = i - r * D;
            const float* pr = sS + r * FWD_BC;
            float acc = sO[i] * sA[r];
            for (int c = 0; c < FWD_BC; ++c) acc = fmaf(pr[c], sKV[c * D + d], acc);
            sO[i] = acc;
        }
    }
    __syncthreads();
    for (int i = tid; i < FWD_BR * D; i += blockDim.x) {
        const int r = i / D, d = i - r * D, t = q0 + r;
        if (t < p.Tq) ob[t * p.o_sr + d] = from_float<T>(sO[i] / sL[r]);
    }
    if (tid < FWD_BR && q0 + tid < p.Tq) lse[static_cast<int64_t>(bh) * p.Tq + q0 + tid] = sM[tid] + logf(sL[tid]);
}

// ---- backward ------------------------------------------------------------------------------------

// delta[b, h, t] = sum_d dout[b, t, h, d] * out[b, t, h, d]; one thread per row, grid-stride
template <class T>
__device__ void delta_rows(float* delta, const T* dout, const T* out, const Params& p) {
    const int64_t rows = static_cast<int64_t>(p.B) * p.H * p.Tq;
    for (int64_t row = global_thread_index(); row < rows; row += grid_thread_count()) {
        const int t = static_cast<int>(row % p.Tq);
        const int64_t bh = row / p.Tq;
        const int b = static_cast<int>(bh / p.H), h = static_cast<int>(bh % p.H);
        const int64_t base = b * p.o_sb + t * p.o_sr + h * p.o_sh;
        float acc = 0.0f;
        for (int d = 0; d < p.D; ++d) acc = fmaf(to_float(dout[base + d]), to_float(out[base + d]), acc);
        delta[row] = acc;
    }
}

// The tiles both backward kernels hold in shared memory.
struct BwdTiles {
    float *q, *dout, *k, *v;  // [BR][D], [BR][D], [BC][D], [BC][D]
    float *prob, *dscore;     // [BR][BC]: P = exp(S - lse), dS = P * (dP - delta) (unscaled)
    float *lse, *delta;       // [BR]
    __device__ explicit BwdTiles(float* s, int D)
        : q(s), dout(s + BWD_BR * D), k(s + 2 * BWD_BR * D), v(s + 2 * BWD_BR * D + BWD_BC * D),
          prob(s + 2 * BWD_BR * D + 2 * BWD_BC * D), dscore(prob + BWD_BR * BWD_BC),
          lse(dscore + BWD_BR * BWD_BC), delta(lse + BWD_BR) {}
};

template <class T>
__device__ void load_query_tile(BwdTiles& s, const T* q, const T* dout, const float* lse, const float* delta,
                                const Params& p, int b, int h, int q0) {
    load_tile(s.q, q + b * p.q_sb + h * p.q_sh, p.q_sr, q0, BWD_BR, p.Tq, p.D);
    load_tile(s.dout, dout + b * p.o_sb + h * p.o_sh, p.o_sr, q0, BWD_BR, p.Tq, p.D);
    const int64_t row0 = (static_cast<int64_t>(b) * p.H + h) * p.Tq;
    if (threadIdx.x < BWD_BR) {
        const int t = q0 + threadIdx.x;
        s.lse[threadIdx.x] = t < p.Tq ? lse[row0 + t] : 0.0f;
        s.delta[threadIdx.x] = t < p.Tq ? delta[row0 + t] : 0.0f;
    }
}

template <class T>
__device__ void load_key_tile(BwdTiles& s, const T* k, const T* v, const Params& p, int b, int h, int k0) {
    load_tile(s.k, k + b * p.k_sb + h * p.k_sh, p.k_sr, k0, BWD_BC, p.Tk, p.D);
    load_tile(s.v, v + b * p.v_sb + h * p.v_sh, p.v_sr, k0, BWD_BC, p.Tk, p.D);
}

// P and dS of the (q0, k0) tile pair from the tiles in shared memory; masked entries are 0
__device__ inline void probabilities(BwdTiles& s, const Params& p, int q0, int k0) {
    for (int i = threadIdx.x; i < BWD_BR * BWD_BC; i += blockDim.x) {
        const int r = i / BWD_BC, c = i - r * BWD_BC;
        float pr = 0.0f, ds = 0.0f;
        if (visible(p, q0 + r, k0 + c)) {
            pr = expf(dot(s.q + r * p.D, s.k + c * p.D, p.D) * p.scale - s.lse[r]);
            ds = pr * (dot(s.dout + r * p.D, s.v + c * p.D, p.D) - s.delta[r]);
        }
        s.prob[i] = pr;
        s.dscore[i] = ds;
    }
}

// one block per (key tile, b*h): dv = P^T dout, dk = scale * dS^T q
template <class T>
__device__ void backward_dkdv(T* dk, T* dv, const T* dout, const float* lse, const float* delta,
                              const T* q, const T* k, const T* v, const Params& p) {
    SUMI_DYNAMIC_SHARED(float, smem);
    BwdTiles s(smem, p.D);
    const int D = p.D, tid = threadIdx.x, n = BWD_BC * D;
    const int k0 = blockIdx.x * BWD_BC, bh = blockIdx.y, b = bh / p.H, h = bh % p.H;
    float acc_dk[BWD_ACC], acc_dv[BWD_ACC];  // element tid + e * THREADS of the [BC][D] tile
#pragma unroll
    for (int e = 0; e < BWD_ACC; ++e) acc_dk[e] = acc_dv[e] = 0.0f;

    load_key_tile(s, k, v, p, b, h, k0);
    const int qstart = p.causal ? (k0 / BWD_BR) * BWD_BR : 0;  // causal: only queries i >= k0 see this tile
    for (int q0 = qstart; q0 < p.Tq; q0 += BWD_BR) {
        __syncthreads();  // the previous query tile is consumed
        load_query_tile(s, q, dout, lse, delta, p, b, h, q0);
        __syncthreads();
        probabilities(s, p, q0, k0);
        __syncthreads();
#pragma unroll
        for (int e = 0; e < BWD_ACC; ++e) {
            const int i = tid + e * THREADS;
            if (i < n) {
                const int c = i / D, d = i - c * D;
                float a_dk = acc_dk[e], a_dv = acc_dv[e];
                for (int r = 0; r < BWD_BR; ++r) {
                    a_dv = fmaf(s.prob[r * BWD_BC + c], s.dout[r * D + d], a_dv);
                    a_dk = fmaf(s.dscore[r * BWD_BC + c], s.q[r * D + d], a_dk);
                }
                acc_dk[e] = a_dk;
                acc_dv[e] = a_dv;
            }
        }
    }
    T* dkb = dk + b * p.k_sb + h * p.k_sh;
    T* dvb = dv + b * p.v_sb + h * p.v_sh;
#pragma unroll
    for (int e = 0; e < BWD_ACC; ++e) {
        const int i = tid + e * THREADS;
        if (i < n) {
            const int c = i / D, d = i - c * D, t = k0 + c;
            if (t < p.Tk) {
                dkb[t * p.k_sr + d] = from_float<T>(acc_dk[e] * p.scale);
                dvb[t * p.v_sr + d] = from_float<T>(acc_dv[e]);
            }
        }
    }
}

// one block per (query tile, b*h): dq = scale * dS k
template <class T>
__device__ void backward_dq(T* dq, const T* dout, const float* lse, const float* delta,
                            const T* q, const T* k, const T* v, const Params& p) {
    SUMI_DYNAMIC_SHARED(float, smem);
    BwdTiles s(smem, p.D);
    const int D = p.D, tid = threadIdx.x, n = BWD_BR * D;
    const int q0 = blockIdx.x * BWD_BR, bh = blockIdx.y, b = bh / p.H, h = bh % p.H;
    float acc[BWD_ACC];  // element tid + e * THREADS of the [BR][D] tile
#pragma unroll
    for (int e = 0; e < BWD_ACC; ++e) acc[e] = 0.0f;

    load_query_tile(s, q, dout, lse, delta, p, b, h, q0);
    const int kend = p.causal ? min(p.Tk, q0 + BWD_BR) : p.Tk;
    for (int k0 = 0; k0 < kend; k0 += BWD_BC) {
        __syncthreads();
        load_key_tile(s, k, v, p, b, h, k0);
        __syncthreads();
        probabilities(s, p, q0, k0);
        __syncthreads();
#pragma unroll
        for (int e = 0; e < BWD_ACC; ++e) {
            const int i = tid + e * THREADS;
            if (i < n) {
                const int r = i / D, d = i - r * D;
                float a = acc[e];
                for (int c = 0; c < BWD_BC; ++c) a = fmaf(s.dscore[r * BWD_BC + c], s.k[c * D + d], a);
                acc[e] = a;
            }
        }
    }
    T* dqb = dq + b * p.q_sb + h * p.q_sh;
#pragma unroll
    for (int e = 0; e < BWD_ACC; ++e) {
        const int i = tid + e * THREADS;
        if (i < n) {
            const int r = i / D, d = i - r * D, t = q0 + r;
            if (t < p.Tq) dqb[t * p.q_sr + d] = from_float<T>(acc[e] * p.scale);
        }
    }
}

}  // namespace sumi::attention

// out: (B, Tq, H, D) o-strided; lse: (B, H, Tq) F32; q: (B, Tq, H, D) q-strided; k, v: (B, Tk, H, D)
// grid (ceil(Tq / 16), B * H), 128 threads, forward shared bytes (see above)
#define SUMI_ATTN_FWD(T, S) \
    SUMI_KERNEL void attention_fwd_##S(T* out, float* lse, const T* q, const T* k, const T* v, SUMI_ATTN_PARAMS) { \
        SUMI_ATTN_STRUCT; sumi::attention::forward(out, lse, q, k, v, p); }
// delta: (B, H, Tq) F32; dout, out: (B, Tq, H, D) o-strided; any grid of 1-D blocks
#define SUMI_ATTN_DELTA(T, S) \
    SUMI_KERNEL void attention_bwd_delta_##S(float* delta, const T* dout, const T* out, SUMI_ATTN_PARAMS) { \
        SUMI_ATTN_STRUCT; sumi::attention::delta_rows(delta, dout, out, p); }
// dk, dv: (B, Tk, H, D) k-/v-strided; dout: (B, Tq, H, D) o-strided; lse, delta: (B, H, Tq) F32;
// q, k, v as in the forward. grid (ceil(Tk / 16), B * H), 128 threads, backward shared bytes
#define SUMI_ATTN_DKDV(T, S) \
    SUMI_KERNEL void attention_bwd_dkdv_##S(T* dk, T* dv, const T* dout, const float* lse, const float* delta, \
                                            const T* q, const T* k, const T* v, SUMI_ATTN_PARAMS) { \
        SUMI_ATTN_STRUCT; sumi::attention::backward_dkdv(dk, dv, dout, lse, delta, q, k, v, p); }
// dq: (B, Tq, H, D) q-strided; the rest as in dkdv. grid (ceil(Tq / 16), B * H), 128 threads
#define SUMI_ATTN_DQ(T, S) \
    SUMI_KERNEL void attention_bwd_dq_##S(T* dq, const T* dout, const float* lse, const float* delta, \
                                          const T* q, const T* k, const T* v, SUMI_ATTN_PARAMS) { \
        SUMI_ATTN_STRUCT; sumi::attention::backward_dq(dq, dout, lse, delta, q, k, v, p); }
SUMI_FOR_EACH_FLOAT_TYPE(SUMI_ATTN_FWD)
SUMI_FOR_EACH_FLOAT_TYPE(SUMI_ATTN_DELTA)
SUMI_FOR_EACH_FLOAT_TYPE(SUMI_ATTN_DKDV)
SUMI_FOR_EACH_FLOAT_TYPE(SUMI_ATTN_DQ)
