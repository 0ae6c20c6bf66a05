// attention_mma.cu: scaled dot-product attention on tensor cores (F16, BF16 storage; sm_80+),
// forward and backward, with attention.cu's contract: the same arguments, layouts and grid axes
// (Params, SUMI_ATTN_PARAMS), out/lse/dq/dk/dv written with `=`, no atomics, every sum in float in an
// order fixed by the tiling, so bit-reproducible run to run. AttentionOps picks these kernels for
// F16/BF16 on compute capability 8.0 and above, attention.cu's scalar ones elsewhere. Through
// mma.cuh's emulated fragments the same source also runs on the host build (slowly), which is how
// the host tests check it.
//
// Structure (FlashAttention-2, Dao 2023), 4 warps per block, head dim padded to DP = 16 * ceil(D / 16)
// inside the tiles (the padding columns are zero), instantiated per DP (D <= 160):
//  - forward: a block owns 64 query rows, each warp 16 of them, Q as mma fragments in registers;
//    64-key tiles of K and V stream through shared memory with cp.async (V's copy overlaps S = Q K^T,
//    the next K's overlaps P V); S, the online softmax (m, l per row, rescale alpha) and the O
//    accumulator stay in registers; P becomes the A operand of P V without shared memory.
//  - dq: a block owns 64 query rows (Q, dO fragments in registers), loops over 32-key tiles:
//    S = Q K^T, dP = dO V^T, P = exp(S * scale - lse), dS = P (dP - delta), dq += dS K.
//  - dk/dv: a block owns 64 keys (K, V fragments in registers), loops over 32-query tiles:
//    S^T = K Q^T, dP^T = V dO^T, dv += P^T dO, dk += dS^T Q.
//  Both backward kernels double-buffer their tiles: the next tile's cp.async copy overlaps this
//  tile's products (the staging area of the fragments holds the two buffers afterwards).
//  delta = rowsum(dout * out) comes from attention.cu's attention_bwd_delta.
// Operands of each product are rounded to the storage type (P and dS too, as FlashAttention does);
// accumulation is float.
//
// Kernels come per head-dim class (D <= 64, <= 96, <= 160), each instantiating its padded head dims.
// Shared memory: two tiles of [64][DP + 8] storage elements (the 8-element row pad puts the 8 rows
// of an ldmatrix on distinct banks): 256 * (DP + 8) bytes, D = 40: 14,336, 64: 18,432, 80: 22,528,
// 160: 43,008 (AttentionOps.mmaSharedBytes computes the same).
#include "attention.cuh"
#include "mma.cuh"

namespace sumi::attention {

constexpr int MMA_WARPS = 4;  // 128 threads per block
constexpr int MMA_ROWS = 16 * MMA_WARPS;  // query rows (forward, dq) or keys (dk/dv) a block owns
constexpr int MMA_FWD_KEYS = 64;           // keys per forward tile
constexpr int MMA_BWD_TILE = 32;           // keys (dq) or queries (dk/dv) per backward tile
constexpr int MMA_PAD = 8;
static_assert(MMA_WARPS <= mma::MAX_WARPS, "the emulated product's scratch has a slot per warp");
static_assert(MMA_FWD_KEYS == MMA_ROWS, "the forward stages Q in the V tile");

template <int N> struct HeadDimSteps { static constexpr int value = N; };

// calls f(HeadDimSteps<ceil(D / 16)>{}) for ceil(D / 16) in [LO, HI] (the tiles are instantiated per
// padded head dim; a kernel covers a range of them, so small head dims get a kernel of few registers)
template <int LO, int HI, class F>
__device__ __forceinline__ void with_head_dim_steps(int D, F&& f) {
    if constexpr (LO == HI) {
        f(HeadDimSteps<LO>{});
    } else {
        if (CEIL_DIV(D, 16) <= LO) f(HeadDimSteps<LO>{});
        else with_head_dim_steps<LO + 1, HI>(D, f);
    }
}

// whether rows of a (b, t, h, d)-strided 16-bit tensor can be copied in 16-byte pieces
__device__ __forceinline__ bool rows_in_16_bytes(const void* base, int64_t sb, int64_t sr, int64_t sh, int D) {
    return reinterpret_cast<uintptr_t>(base) % 16 == 0 && sb % 8 == 0 && sr % 8 == 0 && sh % 8 == 0 && D % 8 == 0;
}

// rows [row0, row0 + rows) of a (T, D) matrix with row stride `stride` into dst[rows][DP + MMA_PAD];
// columns D..DP-1 and rows at or past `limit` are zero. `vec`: asynchronous 16-byte copies (complete
// after wait_async and a barrier), else plain element copies.
template <class T, int DP>
__device__ void load_tile_mma(T* dst, const T* src, int64_t stride, int row0, int rows, int limit, int D, bool vec) {
    constexpr int S = DP + MMA_PAD;
    if (vec) {
        constexpr int CHUNKS = DP / 8;
        for (int i = threadIdx.x; i < rows * CHUNKS; i += blockDim.x) {
            const int r = i / CHUNKS, c = (i - r * CHUNKS) * 8, t = row0 + r;
            T* d = dst + r * S + c;
            if (t < limit && c < D) {
                mma::copy16_async(d, src + t * stride + c);
            } else {
                uint64_t* z = reinterpret_cast<uint64_t*>(d);
                z[0] = 0;
                z[1] = 0;
            }
        }
    } else {
        const T zero = from_float<T>(0.0f);
        for (int i = threadIdx.x; i < rows * DP; i += blockDim.x) {
            const int r = i / DP, c = i - r * DP, t = row0 + r;
            dst[r * S + c] = t < limit && c < D ? src[t * stride + c] : zero;
        }
    }
}

// ---- forward -------------------------------------------------------------------------------------

template <class T, int KS>
__device__ void forward_mma(T* out, float* lse, const T* q, const T* k, const T* v, const Params& p) {
    constexpr int DP = 16 * KS, NT = DP / 8, S = DP + MMA_PAD, KT = MMA_FWD_KEYS / 8;
    SUMI_DYNAMIC_SHARED(T, smem);
    T* sK = smem;                    // [64][S] the key tile
    T* sV = smem + MMA_FWD_KEYS * S; // [64][S] the value tile (first the query tile)
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t4 = lane % 4;
    const int q0 = blockIdx.x * MMA_ROWS, bh = blockIdx.y, b = bh / p.H, h = bh % p.H;
    const T* qb = q + b * p.q_sb + h * p.q_sh;
    const T* kb = k + b * p.k_sb + h * p.k_sh;
    const T* vb = v + b * p.v_sb + h * p.v_sh;
    const bool vq = rows_in_16_bytes(q, p.q_sb, p.q_sr, p.q_sh, p.D);
    const bool vk = rows_in_16_bytes(k, p.k_sb, p.k_sr, p.k_sh, p.D);
    const bool vv = rows_in_16_bytes(v, p.v_sb, p.v_sr, p.v_sh, p.D);
    const int kend = p.causal ? min(p.Tk, q0 + MMA_ROWS) : p.Tk;

    load_tile_mma<T, DP>(sV, qb, p.q_sr, q0, MMA_ROWS, p.Tq, p.D, vq);
    mma::commit_async();
    load_tile_mma<T, DP>(sK, kb, p.k_sr, 0, MMA_FWD_KEYS, p.Tk, p.D, vk);
    mma::commit_async();
    mma::wait_async<1>();
    __syncthreads();
    uint32_t qf[KS][4];  // this warp's 16 query rows x DP
#pragma unroll
    for (int ks = 0; ks < KS; ++ks) mma::load_a(qf[ks], sV, S, warp * 16, ks * 16);
    __syncthreads();  // sV is free for the values

    const int row[2] = {q0 + warp * 16 + g, q0 + warp * 16 + g + 8};
    float o[NT][4];   // unnormalised output, rows g, g + 8 x this lane's columns of each 8-wide d tile
#pragma unroll
    for (int n = 0; n < NT; ++n) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.0f;
    float m[2] = {-INFINITY, -INFINITY};  // running max per row
    float l[2] = {0.0f, 0.0f};            // running sum per row, this lane's columns only

    for (int k0 = 0; k0 < kend; k0 += MMA_FWD_KEYS) {
        load_tile_mma<T, DP>(sV, vb, p.v_sr, k0, MMA_FWD_KEYS, p.Tk, p.D, vv);
        mma::commit_async();
        mma::wait_async<1>();  // the key tile has landed
        __syncthreads();
        float s[KT][4];  // scores: rows g, g + 8 x keys k0 + 8n + 2 t4 (+1)
#pragma unroll
        for (int n = 0; n < KT; ++n) {
            s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.0f;
#pragma unroll
            for (int ks = 0; ks < KS; ++ks) {
                uint32_t bf[2];
                mma::load_b_nk(bf, sK, S, n * 8, ks * 16);
                mma::mma_16x8x16<T>(s[n], qf[ks], bf);
            }
        }
        __syncthreads();  // every warp is done with the key tile
        if (k0 + MMA_FWD_KEYS < kend) load_tile_mma<T, DP>(sK, kb, p.k_sr, k0 + MMA_FWD_KEYS, MMA_FWD_KEYS, p.Tk, p.D, vk);
        mma::commit_async();  // possibly empty: keeps wait_async's count uniform

        // online softmax; a row's 64 scores are spread over the 4 lanes of a quad. Only tiles past the
        // last key or (causal) reaching past this warp's first row need the mask; rows past Tq need
        // none here (their scores are finite, and they are never stored)
        const bool masked = k0 + MMA_FWD_KEYS > p.Tk || (p.causal && k0 + MMA_FWD_KEYS - 1 > q0 + warp * 16);
        float mx[2] = {m[0], m[1]};
#pragma unroll
        for (int n = 0; n < KT; ++n) {
#pragma unroll
            for (int i = 0; i < 4; ++i) {
                const int key = k0 + n * 8 + 2 * t4 + i % 2;
                s[n][i] = !masked || visible(p, row[i / 2], key) ? s[n][i] * p.scale : -INFINITY;
                mx[i / 2] = fmaxf(mx[i / 2], s[n][i]);
            }
        }
        float alpha[2];
#pragma unroll
        for (int r = 0; r < 2; ++r) {
            mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 1));
            mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 2));
            alpha[r] = mx[r] == -INFINITY ? 1.0f : expf(m[r] - mx[r]);  // exp(-inf) = 0 on the first visible tile
            m[r] = mx[r];
            l[r] *= alpha[r];
        }
#pragma unroll
        for (int n = 0; n < KT; ++n) {
#pragma unroll
            for (int i = 0; i < 4; ++i) {
                const float e = m[i / 2] == -INFINITY ? 0.0f : expf(s[n][i] - m[i / 2]);  // no visible key yet: 0
                s[n][i] = e;
                l[i / 2] += e;
            }
        }
#pragma unroll
        for (int n = 0; n < NT; ++n) {
            o[n][0] *= alpha[0];
            o[n][1] *= alpha[0];
            o[n][2] *= alpha[1];
            o[n][3] *= alpha[1];
        }

        mma::wait_async<1>();  // the value tile has landed
        __syncthreads();
#pragma unroll
        for (int kk = 0; kk < KT / 2; ++kk) {
            uint32_t pf[4];
            mma::a_from_c<T>(pf, s[2 * kk], s[2 * kk + 1]);
#pragma unroll
            for (int n = 0; n < NT; ++n) {
                uint32_t bf[2];
                mma::load_b_kn(bf, sV, S, kk * 16, n * 8);
                mma::mma_16x8x16<T>(o[n], pf, bf);
            }
        }
        __syncthreads();  // every warp is done with the value tile
    }
    mma::wait_async<0>();

    T* ob = out + b * p.o_sb + h * p.o_sh;
#pragma unroll
    for (int r = 0; r < 2; ++r) {
        l[r] += __shfl_xor_sync(0xffffffffu, l[r], 1);
        l[r] += __shfl_xor_sync(0xffffffffu, l[r], 2);
    }
#pragma unroll
    for (int r = 0; r < 2; ++r) {
        if (row[r] >= p.Tq) continue;
        const float inv = 1.0f / l[r];
#pragma unroll
        for (int n = 0; n < NT; ++n) {
            const int d = n * 8 + 2 * t4;
            if (d < p.D) ob[row[r] * p.o_sr + d] = from_float<T>(o[n][2 * r] * inv);
            if (d + 1 < p.D) ob[row[r] * p.o_sr + d + 1] = from_float<T>(o[n][2 * r + 1] * inv);
        }
        if (t4 == 0) lse[static_cast<int64_t>(bh) * p.Tq + row[r]] = m[r] + logf(l[r]);
    }
}

// ---- backward ------------------------------------------------------------------------------------

// one block per (64 query rows, b*h): dq = scale * dS K
template <class T, int KS>
__device__ void backward_dq_mma(T* dq, const T* dout, const float* lse, const float* delta,
                                const T* q, const T* k, const T* v, const Params& p) {
    constexpr int DP = 16 * KS, NT = DP / 8, S = DP + MMA_PAD, KT = MMA_BWD_TILE / 8;
    SUMI_DYNAMIC_SHARED(T, smem);
    T* sQ = smem;                   // [64][S] staging of the query rows
    T* sO = smem + MMA_ROWS * S;    // [64][S] staging of their output gradients
    T* sK = smem;                       // [32][S] then the key tile being used
    T* sV = smem + MMA_BWD_TILE * S;    // [32][S] and its values
    T* nK = smem + 2 * MMA_BWD_TILE * S;// [32][S] the next key tile, in flight
    T* nV = smem + 3 * MMA_BWD_TILE * S;// [32][S] and its values
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t4 = lane % 4;
    const int q0 = blockIdx.x * MMA_ROWS, bh = blockIdx.y, b = bh / p.H, h = bh % p.H;
    const T* kb = k + b * p.k_sb + h * p.k_sh;
    const T* vb = v + b * p.v_sb + h * p.v_sh;
    const bool vk = rows_in_16_bytes(k, p.k_sb, p.k_sr, p.k_sh, p.D);
    const bool vv = rows_in_16_bytes(v, p.v_sb, p.v_sr, p.v_sh, p.D);

    load_tile_mma<T, DP>(sQ, q + b * p.q_sb + h * p.q_sh, p.q_sr, q0, MMA_ROWS, p.Tq, p.D,
                         rows_in_16_bytes(q, p.q_sb, p.q_sr, p.q_sh, p.D));
    load_tile_mma<T, DP>(sO, dout + b * p.o_sb + h * p.o_sh, p.o_sr, q0, MMA_ROWS, p.Tq, p.D,
                         rows_in_16_bytes(dout, p.o_sb, p.o_sr, p.o_sh, p.D));
    mma::commit_async();
    mma::wait_async<0>();
    __syncthreads();
    uint32_t qf[KS][4], of[KS][4];  // this warp's 16 rows of q and dout
#pragma unroll
    for (int ks = 0; ks < KS; ++ks) {
        mma::load_a(qf[ks], sQ, S, warp * 16, ks * 16);
        mma::load_a(of[ks], sO, S, warp * 16, ks * 16);
    }
    const int row[2] = {q0 + warp * 16 + g, q0 + warp * 16 + g + 8};
    const int64_t stat0 = static_cast<int64_t>(bh) * p.Tq;
    float row_lse[2], row_delta[2];
#pragma unroll
    for (int r = 0; r < 2; ++r) {
        row_lse[r] = row[r] < p.Tq ? lse[stat0 + row[r]] : 0.0f;
        row_delta[r] = row[r] < p.Tq ? delta[stat0 + row[r]] : 0.0f;
    }
    float acc[NT][4];
#pragma unroll
    for (int n = 0; n < NT; ++n) acc[n][0] = acc[n][1] = acc[n][2] = acc[n][3] = 0.0f;

    const int kend = p.causal ? min(p.Tk, q0 + MMA_ROWS) : p.Tk;
    __syncthreads();  // the staging is consumed
    load_tile_mma<T, DP>(sK, kb, p.k_sr, 0, MMA_BWD_TILE, p.Tk, p.D, vk);
    load_tile_mma<T, DP>(sV, vb, p.v_sr, 0, MMA_BWD_TILE, p.Tk, p.D, vv);
    mma::commit_async();
    for (int k0 = 0; k0 < kend; k0 += MMA_BWD_TILE) {
        if (k0 + MMA_BWD_TILE < kend) {  // the next tile's copy overlaps this tile's products
            load_tile_mma<T, DP>(nK, kb, p.k_sr, k0 + MMA_BWD_TILE, MMA_BWD_TILE, p.Tk, p.D, vk);
            load_tile_mma<T, DP>(nV, vb, p.v_sr, k0 + MMA_BWD_TILE, MMA_BWD_TILE, p.Tk, p.D, vv);
        }
        mma::commit_async();  // possibly empty: keeps wait_async's count uniform
        mma::wait_async<1>();  // this tile has landed
        __syncthreads();
        float s[KT][4], dp[KT][4];  // rows g, g + 8 x keys k0 + 8n + 2 t4 (+1)
#pragma unroll
        for (int n = 0; n < KT; ++n) {
            s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.0f;
            dp[n][0] = dp[n][1] = dp[n][2] = dp[n][3] = 0.0f;
#pragma unroll
            for (int ks = 0; ks < KS; ++ks) {
                uint32_t bf[2];
                mma::load_b_nk(bf, sK, S, n * 8, ks * 16);
                mma::mma_16x8x16<T>(s[n], qf[ks], bf);
                mma::load_b_nk(bf, sV, S, n * 8, ks * 16);
                mma::mma_16x8x16<T>(dp[n], of[ks], bf);
            }
#pragma unroll
            for (int i = 0; i < 4; ++i) {  // dS = P (dP - delta), P = exp(S * scale - lse); masked: 0
                const int r = i / 2, key = k0 + n * 8 + 2 * t4 + i % 2;
                const float pr = visible(p, row[r], key) ? expf(s[n][i] * p.scale - row_lse[r]) : 0.0f;
                s[n][i] = pr * (dp[n][i] - row_delta[r]);
            }
        }
#pragma unroll
        for (int kk = 0; kk < KT / 2; ++kk) {
            uint32_t af[4];
            mma::a_from_c<T>(af, s[2 * kk], s[2 * kk + 1]);
#pragma unroll
            for (int n = 0; n < NT; ++n) {
                uint32_t bf[2];
                mma::load_b_kn(bf, sK, S, kk * 16, n * 8);
                mma::mma_16x8x16<T>(acc[n], af, bf);
            }
        }
        __syncthreads();  // every warp is done with this tile: its buffers take the one after next
        T* t = sK; sK = nK; nK = t;
        t = sV; sV = nV; nV = t;
    }
    mma::wait_async<0>();
    T* dqb = dq + b * p.q_sb + h * p.q_sh;
#pragma unroll
    for (int r = 0; r < 2; ++r) {
        if (row[r] >= p.Tq) continue;
#pragma unroll
        for (int n = 0; n < NT; ++n) {
            const int d = n * 8 + 2 * t4;
            if (d < p.D) dqb[row[r] * p.q_sr + d] = from_float<T>(acc[n][2 * r] * p.scale);
            if (d + 1 < p.D) dqb[row[r] * p.q_sr + d + 1] = from_float<T>(acc[n][2 * r + 1] * p.scale);
        }
    }
}

// one block per (64 keys, b*h): dv = P^T dout, dk = scale * dS^T q
template <class T, int KS>
__device__ void backward_dkdv_mma(T* dk, T* dv, const T* dout, const float* lse, const float* delta,
                                  const T* q, const T* k, const T* v, const Params& p) {
    constexpr int DP = 16 * KS, NT = DP / 8, S = DP + MMA_PAD, QT = MMA_BWD_TILE / 8;
    SUMI_DYNAMIC_SHARED(T, smem);
    T* sK = smem;                     // [64][S] staging of the keys
    T* sV = smem + MMA_ROWS * S;      // [64][S] staging of the values
    T* sQ = smem;                         // [32][S] then the query tile being used
    T* sO = smem + MMA_BWD_TILE * S;      // [32][S] and its output gradients
    T* nQ = smem + 2 * MMA_BWD_TILE * S;  // [32][S] the next query tile, in flight
    T* nO = smem + 3 * MMA_BWD_TILE * S;  // [32][S] and its output gradients
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t4 = lane % 4;
    const int k0 = blockIdx.x * MMA_ROWS, bh = blockIdx.y, b = bh / p.H, h = bh % p.H;
    const T* qb = q + b * p.q_sb + h * p.q_sh;
    const T* ob = dout + b * p.o_sb + h * p.o_sh;
    const bool vq = rows_in_16_bytes(q, p.q_sb, p.q_sr, p.q_sh, p.D);
    const bool vo = rows_in_16_bytes(dout, p.o_sb, p.o_sr, p.o_sh, p.D);

    load_tile_mma<T, DP>(sK, k + b * p.k_sb + h * p.k_sh, p.k_sr, k0, MMA_ROWS, p.Tk, p.D,
                         rows_in_16_bytes(k, p.k_sb, p.k_sr, p.k_sh, p.D));
    load_tile_mma<T, DP>(sV, v + b * p.v_sb + h * p.v_sh, p.v_sr, k0, MMA_ROWS, p.Tk, p.D,
                         rows_in_16_bytes(v, p.v_sb, p.v_sr, p.v_sh, p.D));
    mma::commit_async();
    mma::wait_async<0>();
    __syncthreads();
    uint32_t kf[KS][4], vf[KS][4];  // this warp's 16 keys of k and v
#pragma unroll
    for (int ks = 0; ks < KS; ++ks) {
        mma::load_a(kf[ks], sK, S, warp * 16, ks * 16);
        mma::load_a(vf[ks], sV, S, warp * 16, ks * 16);
    }
    const int key[2] = {k0 + warp * 16 + g, k0 + warp * 16 + g + 8};
    const int64_t stat0 = static_cast<int64_t>(bh) * p.Tq;
    float acc_dk[NT][4], acc_dv[NT][4];
#pragma unroll
    for (int n = 0; n < NT; ++n) {
        acc_dk[n][0] = acc_dk[n][1] = acc_dk[n][2] = acc_dk[n][3] = 0.0f;
        acc_dv[n][0] = acc_dv[n][1] = acc_dv[n][2] = acc_dv[n][3] = 0.0f;
    }

    const int qstart = p.causal ? k0 : 0;  // causal: only queries i >= k0 see these keys
    __syncthreads();  // the staging is consumed
    if (qstart < p.Tq) {
        load_tile_mma<T, DP>(sQ, qb, p.q_sr, qstart, MMA_BWD_TILE, p.Tq, p.D, vq);
        load_tile_mma<T, DP>(sO, ob, p.o_sr, qstart, MMA_BWD_TILE, p.Tq, p.D, vo);
    }
    mma::commit_async();
    for (int q0 = qstart; q0 < p.Tq; q0 += MMA_BWD_TILE) {
        if (q0 + MMA_BWD_TILE < p.Tq) {  // the next tile's copy overlaps this tile's products
            load_tile_mma<T, DP>(nQ, qb, p.q_sr, q0 + MMA_BWD_TILE, MMA_BWD_TILE, p.Tq, p.D, vq);
            load_tile_mma<T, DP>(nO, ob, p.o_sr, q0 + MMA_BWD_TILE, MMA_BWD_TILE, p.Tq, p.D, vo);
        }
        mma::commit_async();  // possibly empty: keeps wait_async's count uniform
        mma::wait_async<1>();  // this tile has landed
        __syncthreads();
        float s[QT][4], dp[QT][4];  // keys g, g + 8 x queries q0 + 8n + 2 t4 (+1): S^T, dP^T
#pragma unroll
        for (int n = 0; n < QT; ++n) {
            s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.0f;
            dp[n][0] = dp[n][1] = dp[n][2] = dp[n][3] = 0.0f;
#pragma unroll
            for (int ks = 0; ks < KS; ++ks) {
                uint32_t bf[2];
                mma::load_b_nk(bf, sQ, S, n * 8, ks * 16);
                mma::mma_16x8x16<T>(s[n], kf[ks], bf);
                mma::load_b_nk(bf, sO, S, n * 8, ks * 16);
                mma::mma_16x8x16<T>(dp[n], vf[ks], bf);
            }
#pragma unroll
            for (int i = 0; i < 4; ++i) {  // P^T and dS^T = P^T (dP^T - delta); masked: 0
                const int query = q0 + n * 8 + 2 * t4 + i % 2;
                float pr = 0.0f, ds = 0.0f;
                if (visible(p, query, key[i / 2])) {
                    pr = expf(s[n][i] * p.scale - lse[stat0 + query]);
                    ds = pr * (dp[n][i] - delta[stat0 + query]);
                }
                s[n][i] = pr;
                dp[n][i] = ds;
            }
        }
#pragma unroll
        for (int kk = 0; kk < QT / 2; ++kk) {
            uint32_t pf[4], df[4];
            mma::a_from_c<T>(pf, s[2 * kk], s[2 * kk + 1]);
            mma::a_from_c<T>(df, dp[2 * kk], dp[2 * kk + 1]);
#pragma unroll
            for (int n = 0; n < NT; ++n) {
                uint32_t bf[2];
                mma::load_b_kn(bf, sO, S, kk * 16, n * 8);
                mma::mma_16x8x16<T>(acc_dv[n], pf, bf);
                mma::load_b_kn(bf, sQ, S, kk * 16, n * 8);
                mma::mma_16x8x16<T>(acc_dk[n], df, bf);
            }
        }
        __syncthreads();  // every warp is done with this tile: its buffers take the one after next
        T* t = sQ; sQ = nQ; nQ = t;
        t = sO; sO = nO; nO = t;
    }
    mma::wait_async<0>();
    T* dkb = dk + b * p.k_sb + h * p.k_sh;
    T* dvb = dv + b * p.v_sb + h * p.v_sh;
#pragma unroll
    for (int r = 0; r < 2; ++r) {
        if (key[r] >= p.Tk) continue;
#pragma unroll
        for (int n = 0; n < NT; ++n) {
#pragma unroll
            for (int j = 0; j < 2; ++j) {
                const int d = n * 8 + 2 * t4 + j;
                if (d >= p.D) continue;
                dkb[key[r] * p.k_sr + d] = from_float<T>(acc_dk[n][2 * r + j] * p.scale);
                dvb[key[r] * p.v_sr + d] = from_float<T>(acc_dv[n][2 * r + j]);
            }
        }
    }
}

}  // namespace sumi::attention

// Arguments, layouts and grid axes as attention.cu's kernels of the same name without _mma; blocks
// of 128 threads, 256 * (16 * ceil(D / 16) + 8) bytes of dynamic shared memory, grid x over 64 rows.
// One kernel per head-dim class C (D <= 64, <= 96, <= 160: their register counts differ a lot),
// stamped for F16 and BF16: attention_fwd_mma_<C>_<type> and so on.
// out: (B, Tq, H, D) o-strided; lse: (B, H, Tq) F32; q: (B, Tq, H, D) q-strided; k, v: (B, Tk, H, D)
// grid (ceil(Tq / 64), B * H)
#define SUMI_ATTN_MMA_FWD(T, S, C, LO, HI) \
    SUMI_KERNEL void attention_fwd_mma_##C##_##S(T* out, float* lse, const T* q, const T* k, const T* v, SUMI_ATTN_PARAMS) { \
        SUMI_ATTN_MMA_BODY(SUMI_ATTN_STRUCT; \
            sumi::attention::with_head_dim_steps<LO, HI>(D, [&](auto ks) { \
                sumi::attention::forward_mma<T, decltype(ks)::value>(out, lse, q, k, v, p); })); }
// dk, dv: (B, Tk, H, D) k-/v-strided; dout: (B, Tq, H, D) o-strided; lse, delta: (B, H, Tq) F32;
// q, k, v as in the forward. grid (ceil(Tk / 64), B * H)
#define SUMI_ATTN_MMA_DKDV(T, S, C, LO, HI) \
    SUMI_KERNEL void attention_bwd_dkdv_mma_##C##_##S(T* dk, T* dv, const T* dout, const float* lse, const float* delta, \
                                                      const T* q, const T* k, const T* v, SUMI_ATTN_PARAMS) { \
        SUMI_ATTN_MMA_BODY(SUMI_ATTN_STRUCT; \
            sumi::attention::with_head_dim_steps<LO, HI>(D, [&](auto ks) { \
                sumi::attention::backward_dkdv_mma<T, decltype(ks)::value>(dk, dv, dout, lse, delta, q, k, v, p); })); }
// dq: (B, Tq, H, D) q-strided; the rest as in dkdv. grid (ceil(Tq / 64), B * H)
#define SUMI_ATTN_MMA_DQ(T, S, C, LO, HI) \
    SUMI_KERNEL void attention_bwd_dq_mma_##C##_##S(T* dq, const T* dout, const float* lse, const float* delta, \
                                                    const T* q, const T* k, const T* v, SUMI_ATTN_PARAMS) { \
        SUMI_ATTN_MMA_BODY(SUMI_ATTN_STRUCT; \
            sumi::attention::with_head_dim_steps<LO, HI>(D, [&](auto ks) { \
                sumi::attention::backward_dq_mma<T, decltype(ks)::value>(dq, dout, lse, delta, q, k, v, p); })); }
// Below sm_80 (no m16n8k16 for BF16) AttentionOps takes attention.cu's kernels; there these bodies
// are not compiled (they would only trap), which keeps the fatbin's sm_75 build quick.
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 800
#define SUMI_ATTN_MMA_BODY(...) __trap();
#else
#define SUMI_ATTN_MMA_BODY(...) __VA_ARGS__
#endif
// X(type, suffix, class, lowest and highest ceil(D / 16) of the class); AttentionOps.mmaHeadDimClass agrees
#define SUMI_ATTN_MMA_STAMP(X) \
    X(__half, f16, d64, 1, 4) X(__half, f16, d96, 5, 6) X(__half, f16, d160, 7, 10) \
    X(__nv_bfloat16, bf16, d64, 1, 4) X(__nv_bfloat16, bf16, d96, 5, 6) X(__nv_bfloat16, bf16, d160, 7, 10)
SUMI_ATTN_MMA_STAMP(SUMI_ATTN_MMA_FWD)
SUMI_ATTN_MMA_STAMP(SUMI_ATTN_MMA_DKDV)
SUMI_ATTN_MMA_STAMP(SUMI_ATTN_MMA_DQ)
