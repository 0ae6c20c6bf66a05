// attention_rows.cu: the row steps of materialised attention (ops/HostAttention.java), which the host
// device runs instead of the flash kernels of attention.cu: those synchronise their blocks, and the
// host runs such blocks as fibers (a context switch per thread per barrier), while these never
// synchronise, so the host runs them as plain loops. The matrix products around them are GEMMs.
// One thread owns one row of a score matrix, so a GPU would run them uncoalesced: host use only.
//
// Shapes: rows = heads * Tq (a chunk of heads of one batch item, head-major; or Tq queries of one
// head from query0 on), cols = Tk; row r is query i = query0 + r % Tq.
// S, P, dP, dS are row-major (rows, Tk); lse, delta are F32 (rows).
// Causal rows see keys j <= i only; masked entries of P and dS are written as 0.
// Contract: every output is written with `=`; all math in float.
#include "common.cuh"

namespace sumi::attention_rows {

// P[r][j] = exp(S[r][j] - lse[r]) into score (F32, in place) and prob (storage type; may be score), with
// lse[r] = log sum_j exp(S[r][j]) over the visible keys found here (find_lse) or read (the backward)
template <class T>
__device__ void probs(T* prob, float* score, float* lse, int64_t rows, int queries, int query0, int keys, int causal, int find_lse) {
    for (int64_t r = global_thread_index(); r < rows; r += grid_thread_count()) {
        float* s = score + r * keys;
        T* p = prob + r * keys;
        const int visible = causal ? query0 + static_cast<int>(r % queries) + 1 : keys;
        if (find_lse) {
            // exp(S - max) is kept in score, so each element costs one expf
            float m = -INFINITY;
            for (int j = 0; j < visible; ++j) m = fmaxf(m, s[j]);
            float sum = 0.0f;
            for (int j = 0; j < visible; ++j) {
                s[j] = expf(s[j] - m);
                sum += s[j];
            }
            lse[r] = m + logf(sum);
            const float inv = 1.0f / sum;
            for (int j = 0; j < keys; ++j) {
                const float e = j < visible ? s[j] * inv : 0.0f;
                s[j] = e;
                p[j] = from_float<T>(e);   // after s[j]: prob may alias score (T = float), same value
            }
        } else {
            const float l = lse[r];
            for (int j = 0; j < keys; ++j) {
                const float e = j < visible ? expf(s[j] - l) : 0.0f;
                s[j] = e;
                p[j] = from_float<T>(e);
            }
        }
    }
}

// dS[r][j] = P[r][j] * (dP[r][j] - delta[r]) (the softmax backward, unscaled); dscore may be dprob
template <class T>
__device__ void dscores(T* dscore, const float* dprob, const float* prob, const float* delta, int64_t rows, int keys) {
    for (int64_t r = global_thread_index(); r < rows; r += grid_thread_count()) {
        const float dr = delta[r];
        for (int j = 0; j < keys; ++j) {
            const int64_t e = r * keys + j;
            dscore[e] = from_float<T>(prob[e] * (dprob[e] - dr));
        }
    }
}

}  // namespace sumi::attention_rows

// prob: (rows, keys) T, may be score when T is float; score: (rows, keys) F32, S in, P out;
// lse: (rows) F32, written when find_lse != 0, else read; any grid of 1-D blocks
#define SUMI_ATTN_ROWS_PROBS(T, S)                                                                          \
    SUMI_KERNEL void attention_rows_probs_##S(T* prob, float* score, float* lse, int64_t rows, int queries, \
                                              int query0, int keys, int causal, int find_lse) {             \
        sumi::attention_rows::probs(prob, score, lse, rows, queries, query0, keys, causal, find_lse);       \
    }
SUMI_FOR_EACH_FLOAT_TYPE(SUMI_ATTN_ROWS_PROBS)

// dscore: (rows, keys) T, may be dprob when T is float; dprob, prob: (rows, keys) F32; delta: (rows) F32
#define SUMI_ATTN_ROWS_DSCORES(T, S)                                                                          \
    SUMI_KERNEL void attention_rows_dscores_##S(T* dscore, const float* dprob, const float* prob, const float* delta, \
                                                int64_t rows, int keys) {                                     \
        sumi::attention_rows::dscores(dscore, dprob, prob, delta, rows, keys);                                \
    }
SUMI_FOR_EACH_FLOAT_TYPE(SUMI_ATTN_ROWS_DSCORES)
