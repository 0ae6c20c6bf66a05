// norm.cu: GroupNorm over NCHW (optionally fused with SiLU on the output) and LayerNorm over the last
// dimension, forward and backward, in the manner of llm.c's layernorm_forward / layernorm_backward.
//
// Legend: N = batch, C = channels, G = groups (C % G == 0, Cg = C / G channels per group),
// HW = height * width (one plane), rows = every leading dimension of a LayerNorm input folded together.
// Statistics are float whatever the storage type: mean and rstd = 1 / sqrt(var + eps), var biased
// (divided by the element count, as PyTorch normalises). Every reduction is in float, and in a fixed
// order for a fixed launch shape: results are bit-reproducible on both targets (no atomics anywhere).
//
// Contract: forward writes out, mean, rstd (=). Backward writes dx (=) and accumulates the parameter
// gradients (+=), which the caller zeroes once per step.
//
// Launch shapes (ops/NormOps.java): one block per (n, g) group or per row, blockDim.x a multiple of 32;
// the parameter gradients of GroupNorm take one block per channel, those of LayerNorm one thread per
// column (a plain loop on the host, coalesced rows on a GPU).
#include "common.cuh"

namespace sumi::norm {

__device__ __forceinline__ float sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }

// ---- GroupNorm -----------------------------------------------------------------------------------

template <class T>
__device__ void groupnorm_forward(T* out, float* mean, float* rstd, const T* inp, const T* gamma, const T* beta,
                                  int N, int C, int HW, int G, float eps, int silu) {
    const int ng = blockIdx.x;  // n * G + g
    if (ng >= N * G) return;
    const int g = ng % G, cg = C / G;
    const int64_t count = static_cast<int64_t>(cg) * HW;
    const int64_t base = static_cast<int64_t>(ng) * count;  // a group's channels are contiguous in NCHW
    const T* x = inp + base;
    T* y = out + base;
    // two passes (mean, then squared deviations): no cancellation for groups with a large mean
    float s = 0.0f;
    for (int64_t i = threadIdx.x; i < count; i += blockDim.x) s += to_float(x[i]);
    const float m = block_reduce_sum(s) / static_cast<float>(count);
    float v = 0.0f;
    for (int64_t i = threadIdx.x; i < count; i += blockDim.x) {
        const float d = to_float(x[i]) - m;
        v = fmaf(d, d, v);
    }
    const float r = rsqrtf(block_reduce_sum(v) / static_cast<float>(count) + eps);
    for (int64_t i = threadIdx.x; i < count; i += blockDim.x) {
        const int c = g * cg + static_cast<int>(i / HW);
        float o = fmaf((to_float(x[i]) - m) * r, to_float(gamma[c]), to_float(beta[c]));
        if (silu) o = o * sigmoid(o);
        y[i] = from_float<T>(o);
    }
    if (threadIdx.x == 0) {
        mean[ng] = m;
        rstd[ng] = r;
    }
}

// dL/d(pre-activation) of element i of channel c: dout, through SiLU when fused
template <class T>
__device__ __forceinline__ float groupnorm_dy(const T* dout, const T* inp, int64_t i, int c, float m, float r,
                                             const T* gamma, const T* beta, int silu) {
    const float d = to_float(dout[i]);
    if (!silu) return d;
    const float pre = fmaf((to_float(inp[i]) - m) * r, to_float(gamma[c]), to_float(beta[c]));
    const float sg = sigmoid(pre);
    return d * sg * (1.0f + pre * (1.0f - sg));
}

// dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)) over the group, dxhat = dy * gamma
template <class T>
__device__ void groupnorm_backward_input(T* dinp, const T* dout, const T* inp, const T* gamma, const T* beta,
                                         const float* mean, const float* rstd, int N, int C, int HW, int G, int silu) {
    const int ng = blockIdx.x;
    if (ng >= N * G) return;
    const int g = ng % G, cg = C / G;
    const int64_t count = static_cast<int64_t>(cg) * HW;
    const int64_t base = static_cast<int64_t>(ng) * count;
    const float m = mean[ng], r = rstd[ng];
    float sd = 0.0f, sdx = 0.0f;
    for (int64_t i = threadIdx.x; i < count; i += blockDim.x) {
        const int c = g * cg + static_cast<int>(i / HW);
        const float dxhat = groupnorm_dy(dout, inp, base + i, c, m, r, gamma, beta, silu) * to_float(gamma[c]);
        const float xhat = (to_float(inp[base + i]) - m) * r;
        sd += dxhat;
        sdx = fmaf(dxhat, xhat, sdx);
    }
    const float md = block_reduce_sum(sd) / static_cast<float>(count);
    const float mdx = block_reduce_sum(sdx) / static_cast<float>(count);
    for (int64_t i = threadIdx.x; i < count; i += blockDim.x) {
        const int c = g * cg + static_cast<int>(i / HW);
        const float dxhat = groupnorm_dy(dout, inp, base + i, c, m, r, gamma, beta, silu) * to_float(gamma[c]);
        const float xhat = (to_float(inp[base + i]) - m) * r;
        dinp[base + i] = from_float<T>(r * (dxhat - md - xhat * mdx));
    }
}

// one block per channel c: dgamma[c] += sum over (n, hw) of dy * xhat, dbeta[c] += sum of dy
template <class T>
__device__ void groupnorm_backward_params(T* dgamma, T* dbeta, const T* dout, const T* inp, const T* gamma, const T* beta,
                                          const float* mean, const float* rstd, int N, int C, int HW, int G, int silu) {
    const int c = blockIdx.x;
    if (c >= C) return;
    const int g = c / (C / G);
    float sg = 0.0f, sb = 0.0f;
    for (int n = 0; n < N; n++) {
        const float m = mean[n * G + g], r = rstd[n * G + g];
        const int64_t base = (static_cast<int64_t>(n) * C + c) * HW;
        for (int64_t i = threadIdx.x; i < HW; i += blockDim.x) {
            const float dy = groupnorm_dy(dout, inp, base + i, c, m, r, gamma, beta, silu);
            sb += dy;
            sg = fmaf(dy, (to_float(inp[base + i]) - m) * r, sg);
        }
    }
    sg = block_reduce_sum(sg);
    sb = block_reduce_sum(sb);
    if (threadIdx.x == 0) {
        dgamma[c] = from_float<T>(to_float(dgamma[c]) + sg);
        dbeta[c] = from_float<T>(to_float(dbeta[c]) + sb);
    }
}

// ---- LayerNorm -----------------------------------------------------------------------------------

template <class T>
__device__ void layernorm_forward(T* out, float* mean, float* rstd, const T* inp, const T* weight, const T* bias,
                                  int rows, int C, float eps) {
    const int64_t row = blockIdx.x;
    if (row >= rows) return;
    const T* x = inp + row * C;
    T* y = out + row * C;
    float s = 0.0f;
    for (int c = threadIdx.x; c < C; c += blockDim.x) s += to_float(x[c]);
    const float m = block_reduce_sum(s) / static_cast<float>(C);
    float v = 0.0f;
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
        const float d = to_float(x[c]) - m;
        v = fmaf(d, d, v);
    }
    const float r = rsqrtf(block_reduce_sum(v) / static_cast<float>(C) + eps);
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
        y[c] = from_float<T>(fmaf((to_float(x[c]) - m) * r, to_float(weight[c]), to_float(bias[c])));
    }
    if (threadIdx.x == 0) {
        mean[row] = m;
        rstd[row] = r;
    }
}

template <class T>
__device__ void layernorm_backward_input(T* dinp, const T* dout, const T* inp, const T* weight,
                                         const float* mean, const float* rstd, int rows, int C) {
    const int64_t row = blockIdx.x;
    if (row >= rows) return;
    const T* dy = dout + row * C;
    const T* x = inp + row * C;
    const float m = mean[row], r = rstd[row];
    float sd = 0.0f, sdx = 0.0f;
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
        const float dxhat = to_float(dy[c]) * to_float(weight[c]);
        sd += dxhat;
        sdx = fmaf(dxhat, (to_float(x[c]) - m) * r, sdx);
    }
    const float md = block_reduce_sum(sd) / static_cast<float>(C);
    const float mdx = block_reduce_sum(sdx) / static_cast<float>(C);
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
        const float dxhat = to_float(dy[c]) * to_float(weight[c]);
        const float xhat = (to_float(x[c]) - m) * r;
        dinp[row * C + c] = from_float<T>(r * (dxhat - md - xhat * mdx));
    }
}

// one thread per column c, rows in order: dweight[c] += sum of dy * xhat, dbias[c] += sum of dy
template <class T>
__device__ void layernorm_backward_params(T* dweight, T* dbias, const T* dout, const T* inp,
                                          const float* mean, const float* rstd, int rows, int C) {
    const int64_t c = global_thread_index();
    if (c >= C) return;
    float sw = 0.0f, sb = 0.0f;
    for (int64_t row = 0; row < rows; row++) {
        const float dy = to_float(dout[row * C + c]);
        sb += dy;
        sw = fmaf(dy, (to_float(inp[row * C + c]) - mean[row]) * rstd[row], sw);
    }
    dweight[c] = from_float<T>(to_float(dweight[c]) + sw);
    dbias[c] = from_float<T>(to_float(dbias[c]) + sb);
}

}  // namespace sumi::norm

#define SUMI_NORM(T, S)                                                                                                   \
    /* out, inp: (N, C, HW); mean, rstd: (N, G) float; gamma, beta: (C); grid.x = N * G; silu != 0 applies SiLU */       \
    SUMI_KERNEL void groupnorm_forward_##S(T* out, float* mean, float* rstd, const T* inp, const T* gamma, const T* beta, \
                                           int N, int C, int HW, int G, float eps, int silu) {                            \
        sumi::norm::groupnorm_forward(out, mean, rstd, inp, gamma, beta, N, C, HW, G, eps, silu);                         \
    }                                                                                                                     \
    /* dinp (=), dout, inp: (N, C, HW); gamma, beta: (C); mean, rstd: (N, G); grid.x = N * G */                           \
    SUMI_KERNEL void groupnorm_backward_input_##S(T* dinp, const T* dout, const T* inp, const T* gamma, const T* beta,    \
                                                  const float* mean, const float* rstd, int N, int C, int HW, int G,      \
                                                  int silu) {                                                             \
        sumi::norm::groupnorm_backward_input(dinp, dout, inp, gamma, beta, mean, rstd, N, C, HW, G, silu);                \
    }                                                                                                                     \
    /* dgamma, dbeta (+=): (C); dout, inp: (N, C, HW); gamma, beta: (C); mean, rstd: (N, G); grid.x = C */                \
    SUMI_KERNEL void groupnorm_backward_params_##S(T* dgamma, T* dbeta, const T* dout, const T* inp, const T* gamma,      \
                                                   const T* beta, const float* mean, const float* rstd, int N, int C,     \
                                                   int HW, int G, int silu) {                                             \
        sumi::norm::groupnorm_backward_params(dgamma, dbeta, dout, inp, gamma, beta, mean, rstd, N, C, HW, G, silu);      \
    }                                                                                                                     \
    /* out, inp: (rows, C); mean, rstd: (rows) float; weight, bias: (C); grid.x = rows */                                 \
    SUMI_KERNEL void layernorm_forward_##S(T* out, float* mean, float* rstd, const T* inp, const T* weight, const T* bias, \
                                           int rows, int C, float eps) {                                                  \
        sumi::norm::layernorm_forward(out, mean, rstd, inp, weight, bias, rows, C, eps);                                  \
    }                                                                                                                     \
    /* dinp (=), dout, inp: (rows, C); weight: (C); mean, rstd: (rows); grid.x = rows */                                  \
    SUMI_KERNEL void layernorm_backward_input_##S(T* dinp, const T* dout, const T* inp, const T* weight,                  \
                                                  const float* mean, const float* rstd, int rows, int C) {                \
        sumi::norm::layernorm_backward_input(dinp, dout, inp, weight, mean, rstd, rows, C);                               \
    }                                                                                                                     \
    /* dweight, dbias (+=): (C); dout, inp: (rows, C); mean, rstd: (rows); one thread per column */                        \
    SUMI_KERNEL void layernorm_backward_params_##S(T* dweight, T* dbias, const T* dout, const T* inp,                     \
                                                   const float* mean, const float* rstd, int rows, int C) {               \
        sumi::norm::layernorm_backward_params(dweight, dbias, dout, inp, mean, rstd, rows, C);                            \
    }
SUMI_FOR_EACH_FLOAT_TYPE(SUMI_NORM)
