// loss.cu: training losses. B = batch (samples), D = elements per sample, n = B * D.
// mse_weighted: loss = sum_b w[b] * sum_d (pred - target)^2 / n (a mean over all n elements, each
// sample weighted, e.g. by min-SNR-gamma computed by the caller), and its gradient
// dpred = grad_scale * 2 * w[b] * (pred - target) / n (=; grad_scale is the loss scale, 1 without).
// *loss accumulates one atomic per block, so it must be zeroed before the launch; math in float.
#include "common.cuh"

namespace sumi::loss {

template <class T>
__device__ void mse_weighted(float* loss, T* dpred, const T* pred, const T* target, const float* weight,
                             float grad_scale, int64_t per_sample, int64_t n) {
    const float inv_n = 1.0f / static_cast<float>(n);
    const float g = 2.0f * inv_n * grad_scale;
    float acc = 0.0f;
    for (int64_t i = global_thread_index(); i < n; i += grid_thread_count()) {
        const float w = weight[i / per_sample];
        const float d = to_float(pred[i]) - to_float(target[i]);
        acc = fmaf(w * d, d, acc);
        dpred[i] = from_float<T>(g * w * d);
    }
    acc = block_reduce_sum(acc);
    if (threadIdx.x == 0) atomicAdd(loss, acc * inv_n);
}

}  // namespace sumi::loss

// loss: (1) F32, zeroed before; dpred, pred, target: (B, D) with n = B * D, D = per_sample;
// weight: (B) F32; blockDim.x a multiple of 32. dpred may be pred.
#define SUMI_LOSS(T, S)                                                                                        \
    SUMI_KERNEL void mse_weighted_##S(float* loss, T* dpred, const T* pred, const T* target, const float* weight, \
                                      float grad_scale, int64_t per_sample, int64_t n) {                        \
        sumi::loss::mse_weighted(loss, dpred, pred, target, weight, grad_scale, per_sample, n);                 \
    }
SUMI_FOR_EACH_FLOAT_TYPE(SUMI_LOSS)
