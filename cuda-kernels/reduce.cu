// reduce.cu: whole-array reductions into one float: sum, maximum of |x|, sum of squares.
// Each block reduces its grid-stride share in float (warp shuffles, then shared memory) and one
// thread per block folds the result into *out with an atomic, so *out must be zeroed before the
// launch (Device.memset) and the launch may use any grid. Sums are not bit-reproducible across grid
// sizes (atomic order); max_abs is. NaN anywhere makes max_abs NaN (its bits order above +inf).
#include "common.cuh"

namespace sumi::reduce {

enum class Kind { Sum, MaxAbs, SumSquares };

template <Kind K, class T>
__device__ void reduce(float* out, const T* in, int64_t n) {
    float acc = 0.0f;
    for (int64_t i = global_thread_index(); i < n; i += grid_thread_count()) {
        float x = to_float(in[i]);
        if (K == Kind::Sum) acc += x;
        if (K == Kind::SumSquares) acc = fmaf(x, x, acc);
        if (K == Kind::MaxAbs) acc = (fabsf(x) > acc || x != x) ? fabsf(x) : acc;
    }
    if (K == Kind::MaxAbs) {
        acc = block_reduce_max(acc);
        if (threadIdx.x == 0) atomic_max_nonnegative(out, acc);
    } else {
        acc = block_reduce_sum(acc);
        if (threadIdx.x == 0) atomicAdd(out, acc);
    }
}

}  // namespace sumi::reduce

using sumi::reduce::Kind;

// out: (1) float, zeroed before the launch; in: (n); blockDim.x a multiple of 32
#define SUMI_REDUCE(T, S)                                                                                              \
    SUMI_KERNEL void reduce_sum_##S(float* out, const T* in, int64_t n) { sumi::reduce::reduce<Kind::Sum>(out, in, n); } \
    SUMI_KERNEL void reduce_max_abs_##S(float* out, const T* in, int64_t n) { sumi::reduce::reduce<Kind::MaxAbs>(out, in, n); } \
    SUMI_KERNEL void reduce_sum_squares_##S(float* out, const T* in, int64_t n) { sumi::reduce::reduce<Kind::SumSquares>(out, in, n); }
SUMI_FOR_EACH_FLOAT_TYPE(SUMI_REDUCE)
