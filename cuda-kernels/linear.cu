// linear.cu: the bias parts of a linear layer y[M, N] = x[M, K] W[N, K]^T + b[N] (ops/LinearOps); the
// products themselves are GEMMs (Device.gemm).
//   M = rows (batch x tokens or pixels), N = output features, K = input features.
// bias_broadcast writes out = b row by row (=), so that the forward GEMM can add x W^T into it with
// beta = 1: one rounding of y in low precision and no extra pass over y after the GEMM.
// bias_grad accumulates the column sums of dy into db (+=, a parameter gradient), in float.
#include "common.cuh"

namespace sumi::linear {

template <class T>
__device__ void bias_broadcast(T* out, const T* bias, int64_t rows, int64_t cols) {
    const int64_t n = rows * cols;
    for (int64_t i = global_thread_index(); i < n; i += grid_thread_count()) out[i] = bias[i % cols];
}

// block (32, BIAS_GRAD_ROWS): threadIdx.x picks a column of the block's 32-column strip (a warp reads
// 32 consecutive elements of a row), threadIdx.y every BIAS_GRAD_ROWS-th row; the per-thread sums meet
// in shared memory and one thread per column adds the total (fixed order: deterministic).
// The partials are dynamic shared memory (BIAS_GRAD_ROWS x 33 floats, LinearOps passes the size): on the
// host target a static __shared__ array is thread-local storage, and the host library's whole TLS
// segment must fit the small static-TLS surplus of a dlopen'd library (see native/cuda_host.h).
constexpr int BIAS_GRAD_ROWS = 8;

template <class T, class G>
__device__ void bias_grad(G* dbias, const T* dout, int64_t rows, int64_t cols) {
    SUMI_DYNAMIC_SHARED(float, shared);
    float (*partial)[33] = reinterpret_cast<float (*)[33]>(shared);  // (BIAS_GRAD_ROWS, 33): 33 avoids bank conflicts
    const int64_t col = static_cast<int64_t>(blockIdx.x) * 32 + threadIdx.x;
    float acc = 0.0f;
    if (col < cols) {
        for (int64_t r = threadIdx.y; r < rows; r += BIAS_GRAD_ROWS) acc += to_float(dout[r * cols + col]);
    }
    partial[threadIdx.y][threadIdx.x] = acc;
    __syncthreads();
    if (threadIdx.y == 0 && col < cols) {
        float s = 0.0f;
        for (int y = 0; y < BIAS_GRAD_ROWS; y++) s += partial[y][threadIdx.x];
        dbias[col] = from_float<G>(to_float(dbias[col]) + s);
    }
}

}  // namespace sumi::linear

#define SUMI_LINEAR(T, S)                                                                                 \
    /* out: (rows, cols), bias: (cols); out = bias broadcast over rows */                                  \
    SUMI_KERNEL void bias_broadcast_##S(T* out, const T* bias, int64_t rows, int64_t cols) {               \
        sumi::linear::bias_broadcast(out, bias, rows, cols);                                               \
    }                                                                                                      \
    /* dbias: (cols) += sum over rows of dout: (rows, cols); block (32, 8), grid.x = ceil(cols / 32), 8 * 33 floats of dynamic shared memory */    \
    SUMI_KERNEL void bias_grad_##S(T* dbias, const T* dout, int64_t rows, int64_t cols) {                  \
        sumi::linear::bias_grad(dbias, dout, rows, cols);                                                  \
    }
SUMI_FOR_EACH_FLOAT_TYPE(SUMI_LINEAR)

// F32 parameter gradients of low-precision activations: dbias (cols) F32, dout (rows, cols) F16/BF16
SUMI_KERNEL void bias_grad_f16_f32(float* dbias, const __half* dout, int64_t rows, int64_t cols) {
    sumi::linear::bias_grad(dbias, dout, rows, cols);
}
SUMI_KERNEL void bias_grad_bf16_f32(float* dbias, const __nv_bfloat16* dout, int64_t rows, int64_t cols) {
    sumi::linear::bias_grad(dbias, dout, rows, cols);
}
