// softmax.cu: softmax over the last dimension of a (rows, cols) array, one block per row.
// Pass 1 finds the row maximum, pass 2 sums exp(x - max), pass 3 writes exp(x - max) / sum; all in
// float. The row is read from global memory three times instead of being staged in shared memory,
// so any cols works with 48 KiB of shared memory or less.
#include "common.cuh"

namespace sumi::softmax {

template <class T>
__device__ void softmax_rows(T* out, const T* in, int rows, int cols) {
    const int64_t row = blockIdx.x;
    if (row >= rows) return;
    const T* x = in + row * cols;
    T* y = out + row * cols;
    float m = -INFINITY;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) m = fmaxf(m, to_float(x[c]));
    m = block_reduce_max(m);
    float s = 0.0f;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) s += expf(to_float(x[c]) - m);
    s = block_reduce_sum(s);
    const float inv = 1.0f / s;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) y[c] = from_float<T>(expf(to_float(x[c]) - m) * inv);
}

}  // namespace sumi::softmax

// out, in: (rows, cols); grid.x = rows, blockDim.x a multiple of 32; out may be in
#define SUMI_SOFTMAX(T, S) \
    SUMI_KERNEL void softmax_rows_##S(T* out, const T* in, int rows, int cols) { sumi::softmax::softmax_rows(out, in, rows, cols); }
SUMI_FOR_EACH_FLOAT_TYPE(SUMI_SOFTMAX)
