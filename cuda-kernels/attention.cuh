// attention.cuh: what the two attention implementations share: the Params struct their kernels
// rebuild from scalar arguments, the visibility rule, and the macros of that scalar tail.
//   attention.cu      the scalar kernels (every storage type, every target: the host build, sm_75, F32)
//   attention_mma.cu  the tensor-core kernels (F16 and BF16 on sm_80+; AttentionOps picks)
// Layouts, contract and the Params fields are described in attention.cu's header.
#pragma once
#include "common.cuh"

namespace sumi::attention {

struct Params {
    int B, H, Tq, Tk, D;
    int64_t q_sb, q_sr, q_sh;  // batch, row (token), head strides of q and dq, in elements
    int64_t k_sb, k_sr, k_sh;  // of k and dk
    int64_t v_sb, v_sr, v_sh;  // of v and dv
    int64_t o_sb, o_sr, o_sh;  // of out and dout
    float scale;               // softmax scale, usually 1 / sqrt(D)
    int causal;                // 1: query i sees keys j <= i (Tq == Tk)
};

__device__ __forceinline__ bool visible(const Params& p, int i, int j) {
    return i < p.Tq && j < p.Tk && (!p.causal || j <= i);
}

}  // namespace sumi::attention

// The scalar tail every attention kernel takes, in Params order.
#define SUMI_ATTN_PARAMS \
    int B, int H, int Tq, int Tk, int D, \
    int64_t q_sb, int64_t q_sr, int64_t q_sh, int64_t k_sb, int64_t k_sr, int64_t k_sh, \
    int64_t v_sb, int64_t v_sr, int64_t v_sh, int64_t o_sb, int64_t o_sr, int64_t o_sh, float scale, int causal
#define SUMI_ATTN_STRUCT \
    const sumi::attention::Params p{B, H, Tq, Tk, D, q_sb, q_sr, q_sh, k_sb, k_sr, k_sh, \
                                    v_sb, v_sr, v_sh, o_sb, o_sr, o_sh, scale, causal}

