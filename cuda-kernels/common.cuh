// common.cuh: what every kernel file shares, for both targets (nvcc for the GPU, g++ with
// native/cuda_host.h for the host). Nothing model-specific lives here.
//
// Conventions of cuda-kernels/ (see docs/architecture.md):
//  - every kernel is `SUMI_KERNEL void name_<dtype>(...)`: extern "C", so both the fatbin and the host
//    library know it by that name; KernelScan finds it, nobody lists it by hand;
//  - arguments in llm.c order: outputs, saved statistics, inputs, parameters, sizes; a shape comment on
//    every pointer;
//  - outputs are written with `=`; parameter gradients accumulate with `+=` (stated per kernel);
//  - element counts and offsets are int64_t; every reduction accumulates in float.
#pragma once

#ifdef __CUDACC__
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stdint.h>
#define SUMI_DYNAMIC_SHARED(T, name) \
    extern __shared__ __align__(16) unsigned char sumi_dynamic_shared_[]; \
    T* name = reinterpret_cast<T*>(sumi_dynamic_shared_)
#else
#include "cuda_host.h"
#endif

#define SUMI_KERNEL extern "C" __global__
#define CEIL_DIV(a, b) (((a) + (b) - 1) / (b))

// Stamps a kernel out for each floating-point storage type: X(type, suffix).
#define SUMI_FOR_EACH_FLOAT_TYPE(X) X(float, f32) X(__half, f16) X(__nv_bfloat16, bf16)

namespace sumi {

// ---- storage type <-> float ----------------------------------------------------------------------
__device__ __forceinline__ float to_float(float x) { return x; }
__device__ __forceinline__ float to_float(__half x) { return __half2float(x); }
__device__ __forceinline__ float to_float(__nv_bfloat16 x) { return __bfloat162float(x); }

template <class T> __device__ __forceinline__ T from_float(float x);
template <> __device__ __forceinline__ float from_float<float>(float x) { return x; }
template <> __device__ __forceinline__ __half from_float<__half>(float x) { return __float2half_rn(x); }
template <> __device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float x) { return __float2bfloat16_rn(x); }

// ---- indexing ------------------------------------------------------------------------------------
__device__ __forceinline__ int64_t global_thread_index() {
    return static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}
__device__ __forceinline__ int64_t grid_thread_count() {
    return static_cast<int64_t>(gridDim.x) * blockDim.x;
}

// ---- reductions (float; blockDim.x a multiple of 32, at most 1024) -------------------------------

// max that keeps NaN (fmaxf drops it): a NaN anywhere must reach the result
__device__ __forceinline__ float max_propagate_nan(float a, float b) { return (a > b || a != a) ? a : b; }

struct SumOp {
    static constexpr float identity = 0.0f;
    __device__ __forceinline__ float operator()(float a, float b) const { return a + b; }
};
struct MaxOp {
    static constexpr float identity = -INFINITY;
    __device__ __forceinline__ float operator()(float a, float b) const { return max_propagate_nan(a, b); }
};

template <class Op>
__device__ __forceinline__ float warp_reduce(float v, Op op) {
    for (int offset = 16; offset > 0; offset >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, offset));
    return v;
}

// Reduction over the block, returned to every thread. Each warp reduces the per-warp partials
// itself, which saves a broadcast barrier (llm.c's blockReduce).
// On the host, ops/Launch.rowBlock gives row kernels one thread per block: the block's loops then run as
// one plain loop with no fibers or barriers (a barrier of one thread returns at once), and its reductions
// are that thread's own sums.
template <class Op>
__device__ inline float block_reduce(float v, Op op) {
#ifndef __CUDACC__
    if (blockDim.x * blockDim.y * blockDim.z == 1) return v;
#endif
    __shared__ float partial[32];
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
    v = warp_reduce(v, op);
    if (lane == 0) partial[warp] = v;
    __syncthreads();
    v = lane < warps ? partial[lane] : Op::identity;
    v = warp_reduce(v, op);
    __syncthreads();  // `partial` may be reused by the next call
    return v;
}

__device__ __forceinline__ float warp_reduce_sum(float v) { return warp_reduce(v, SumOp()); }
__device__ __forceinline__ float block_reduce_sum(float v) { return block_reduce(v, SumOp()); }
__device__ __forceinline__ float block_reduce_max(float v) { return block_reduce(v, MaxOp()); }

// atomicMax for non-negative floats: their IEEE bit patterns order like the integers.
__device__ __forceinline__ void atomic_max_nonnegative(float* address, float value) {
    atomicMax(reinterpret_cast<int*>(address), __float_as_int(value));
}

}  // namespace sumi
