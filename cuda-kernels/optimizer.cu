// optimizer.cu: AdamW and Lion over many F32 tensors in one launch, the global gradient norm, clipping
// and loss-scale unscaling (ops/OptimizerOps).
//
// Multi-tensor design: the trainable tensors are described once, at setup, by a table of
// MultiTensorEntry in device memory (pointers to param, grad and state, element count, per-tensor
// learning-rate factor and weight decay). Every tensor is cut into chunks of CHUNK elements; block b
// works on one chunk of one tensor, found by a binary search over the entries' first_block. So a
// step is one launch whatever the number of tensors (a LoRA of SDXL has ~2000), and the table is
// never rebuilt. The layout of MultiTensorEntry is written by OptimizerOps.ParamSet (56 bytes).
//
// Status (two words in device memory, zeroed by the caller before multi_grad_norm_squared):
//   sumsq: sum over all grads of (g * inv_loss_scale)^2, one atomic per block;
//   nonfinite: set to 1 by any thread that meets an infinite or NaN gradient.
// The steps read the status on the device (no host round trip): a set nonfinite flag skips the
// step (params and state untouched, as a loss scaler wants); otherwise the gradient is multiplied by
// grad_scale = inv_loss_scale * min(1, max_norm / (sqrt(sumsq) + 1e-6)) (no clipping when max_norm <= 0).
// Bias corrections 1 - beta^t and the complements 1 - beta are computed on the host (in double, from
// the double hyperparameters) and passed in: 1.0f - beta in float would cancel (0.999f is 1.3e-8 off
// 0.999, so 1 - 0.999f is 1.3e-5 off 0.001, and v drifts from PyTorch's by that much; GoldenOpsTest).
// Everything is written in place (=): params, m, v. Grads are only read.
#include "common.cuh"

namespace sumi::optimizer {

struct MultiTensorEntry {
    float* param;         // (n) F32 master weights, updated in place
    const float* grad;    // (n) F32
    float* m;             // (n) AdamW first moment / Lion momentum
    float* v;             // (n) AdamW second moment (Lion: unused)
    int64_t n;            // elements
    int64_t first_block;  // blocks [first_block, first_block + ceil(n / CHUNK)) work on this tensor
    float lr_scale;       // per-tensor factor on the learning rate (U-Net vs text-encoder rates)
    float weight_decay;   // decoupled: p -= lr * lr_scale * weight_decay * p
};
static_assert(sizeof(MultiTensorEntry) == 56, "OptimizerOps.ParamSet writes 56-byte entries");

constexpr int64_t CHUNK = 4096;  // elements per block (OptimizerOps.CHUNK)

// The entry whose blocks include blockIdx.x: the last with first_block <= blockIdx.x.
__device__ __forceinline__ const MultiTensorEntry& entry_of_block(const MultiTensorEntry* table, int tensors) {
    const int64_t b = blockIdx.x;
    int lo = 0, hi = tensors - 1;
    while (lo < hi) {
        const int mid = (lo + hi + 1) / 2;
        if (table[mid].first_block <= b) lo = mid; else hi = mid - 1;
    }
    return table[lo];
}

__device__ __forceinline__ void chunk_of_block(const MultiTensorEntry& e, int64_t* begin, int64_t* end) {
    *begin = (static_cast<int64_t>(blockIdx.x) - e.first_block) * CHUNK;
    *end = *begin + CHUNK < e.n ? *begin + CHUNK : e.n;
}

__device__ void grad_norm_squared(float* sumsq, int* nonfinite, const MultiTensorEntry* table, int tensors, float inv_loss_scale) {
    const MultiTensorEntry& e = entry_of_block(table, tensors);
    int64_t begin, end;
    chunk_of_block(e, &begin, &end);
    float acc = 0.0f;
    bool bad = false;
    for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) {
        const float g = e.grad[i];
        bad |= !(fabsf(g) < INFINITY);  // NaN or +-inf
        const float u = g * inv_loss_scale;
        acc = fmaf(u, u, acc);
    }
    if (bad) atomicExch(nonfinite, 1);
    acc = block_reduce_sum(acc);
    if (threadIdx.x == 0) atomicAdd(sumsq, acc);
}

// The factor every gradient is multiplied by: unscale, then clip to max_norm (torch's clip_grad_norm_).
__device__ __forceinline__ float grad_scale(const float* sumsq, float inv_loss_scale, float max_norm) {
    float s = inv_loss_scale;
    if (max_norm > 0.0f) {
        const float coef = max_norm / (sqrtf(*sumsq) + 1e-6f);
        if (coef < 1.0f) s *= coef;
    }
    return s;
}

__device__ void adamw(const MultiTensorEntry* table, const float* sumsq, const int* nonfinite, int tensors,
                      float lr, float beta1, float beta2, float one_minus_beta1, float one_minus_beta2, float eps,
                      float bias_correction1, float bias_correction2, float inv_loss_scale, float max_norm) {
    if (*nonfinite) return;
    const MultiTensorEntry& e = entry_of_block(table, tensors);
    int64_t begin, end;
    chunk_of_block(e, &begin, &end);
    const float scale = grad_scale(sumsq, inv_loss_scale, max_norm);
    const float step_lr = lr * e.lr_scale;
    const float decay = 1.0f - step_lr * e.weight_decay;
    for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) {
        const float g = e.grad[i] * scale;
        const float m = beta1 * e.m[i] + one_minus_beta1 * g;
        const float v = beta2 * e.v[i] + one_minus_beta2 * g * g;
        e.m[i] = m;
        e.v[i] = v;
        const float m_hat = m / bias_correction1;
        const float v_hat = v / bias_correction2;
        e.param[i] = e.param[i] * decay - step_lr * (m_hat / (sqrtf(v_hat) + eps));
    }
}

__device__ void lion(const MultiTensorEntry* table, const float* sumsq, const int* nonfinite, int tensors,
                     float lr, float beta1, float beta2, float one_minus_beta1, float one_minus_beta2,
                     float inv_loss_scale, float max_norm) {
    if (*nonfinite) return;
    const MultiTensorEntry& e = entry_of_block(table, tensors);
    int64_t begin, end;
    chunk_of_block(e, &begin, &end);
    const float scale = grad_scale(sumsq, inv_loss_scale, max_norm);
    const float step_lr = lr * e.lr_scale;
    const float decay = 1.0f - step_lr * e.weight_decay;
    for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) {
        const float g = e.grad[i] * scale;
        const float m = e.m[i];
        const float c = beta1 * m + one_minus_beta1 * g;
        const float sign = c > 0.0f ? 1.0f : (c < 0.0f ? -1.0f : 0.0f);
        e.param[i] = e.param[i] * decay - step_lr * sign;
        e.m[i] = beta2 * m + one_minus_beta2 * g;
    }
}

}  // namespace sumi::optimizer

using sumi::optimizer::MultiTensorEntry;

// sumsq: (1) F32 and nonfinite: (1) int, zeroed before; table: (tensors) entries;
// grid.x = total chunks (table's last first_block + its chunks), blockDim.x a multiple of 32
SUMI_KERNEL void multi_grad_norm_squared(float* sumsq, int* nonfinite, const MultiTensorEntry* table, int tensors, float inv_loss_scale) {
    sumi::optimizer::grad_norm_squared(sumsq, nonfinite, table, tensors, inv_loss_scale);
}

// table: (tensors) entries, params/m/v updated in place; sumsq, nonfinite: (1) status of the last norm launch
SUMI_KERNEL void multi_adamw_step(const MultiTensorEntry* table, const float* sumsq, const int* nonfinite, int tensors,
                                  float lr, float beta1, float beta2, float one_minus_beta1, float one_minus_beta2, float eps,
                                  float bias_correction1, float bias_correction2, float inv_loss_scale, float max_norm) {
    sumi::optimizer::adamw(table, sumsq, nonfinite, tensors, lr, beta1, beta2, one_minus_beta1, one_minus_beta2, eps,
                           bias_correction1, bias_correction2, inv_loss_scale, max_norm);
}

// table: (tensors) entries, params/m updated in place; sumsq, nonfinite: (1) status of the last norm launch
SUMI_KERNEL void multi_lion_step(const MultiTensorEntry* table, const float* sumsq, const int* nonfinite, int tensors,
                                 float lr, float beta1, float beta2, float one_minus_beta1, float one_minus_beta2,
                                 float inv_loss_scale, float max_norm) {
    sumi::optimizer::lion(table, sumsq, nonfinite, tensors, lr, beta1, beta2, one_minus_beta1, one_minus_beta2, inv_loss_scale, max_norm);
}
