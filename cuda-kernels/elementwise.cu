// elementwise.cu: fill, cast, add, scale, axpy over flat arrays of n elements.
// All are grid-stride loops: any grid covers any n; the math is float whatever the storage type.
// Outputs are written with `=`, except axpy, which accumulates into y by definition.
#include "common.cuh"

namespace sumi::elementwise {

template <class T>
__device__ void fill(T* out, float value, int64_t n) {
    const T v = from_float<T>(value);
    for (int64_t i = global_thread_index(); i < n; i += grid_thread_count()) out[i] = v;
}

template <class Out, class In>
__device__ void cast(Out* out, const In* in, int64_t n) {
    for (int64_t i = global_thread_index(); i < n; i += grid_thread_count()) out[i] = from_float<Out>(to_float(in[i]));
}

template <class T>
__device__ void add(T* out, const T* a, const T* b, int64_t n) {
    for (int64_t i = global_thread_index(); i < n; i += grid_thread_count()) out[i] = from_float<T>(to_float(a[i]) + to_float(b[i]));
}

template <class T>
__device__ void scale(T* out, const T* in, float alpha, int64_t n) {
    for (int64_t i = global_thread_index(); i < n; i += grid_thread_count()) out[i] = from_float<T>(alpha * to_float(in[i]));
}

template <class T>
__device__ void axpy(T* y, const T* x, float alpha, int64_t n) {
    for (int64_t i = global_thread_index(); i < n; i += grid_thread_count()) y[i] = from_float<T>(fmaf(alpha, to_float(x[i]), to_float(y[i])));
}

}  // namespace sumi::elementwise

using namespace sumi::elementwise;

#define SUMI_ELEMENTWISE(T, S)                                                                              \
    /* out: (n) */                                                                                          \
    SUMI_KERNEL void fill_##S(T* out, float value, int64_t n) { fill(out, value, n); }                       \
    /* out, a, b: (n); out = a + b */                                                                       \
    SUMI_KERNEL void add_##S(T* out, const T* a, const T* b, int64_t n) { add(out, a, b, n); }               \
    /* out, in: (n); out = alpha * in (out may be in) */                                                    \
    SUMI_KERNEL void scale_##S(T* out, const T* in, float alpha, int64_t n) { scale(out, in, alpha, n); }    \
    /* y, x: (n); y += alpha * x */                                                                         \
    SUMI_KERNEL void axpy_##S(T* y, const T* x, float alpha, int64_t n) { axpy(y, x, alpha, n); }
SUMI_FOR_EACH_FLOAT_TYPE(SUMI_ELEMENTWISE)

// out: (n) of the first type, in: (n) of the second; rounds to nearest even
#define SUMI_CAST(TO, SO, TI, SI) \
    SUMI_KERNEL void cast_##SI##_##SO(TO* out, const TI* in, int64_t n) { cast(out, in, n); }
#define SUMI_CAST_FROM(TI, SI) SUMI_CAST(float, f32, TI, SI) SUMI_CAST(__half, f16, TI, SI) SUMI_CAST(__nv_bfloat16, bf16, TI, SI)
SUMI_FOR_EACH_FLOAT_TYPE(SUMI_CAST_FROM)
