// activation.cu: SiLU, exact GELU, quick GELU and GEGLU, forward and backward, in float math.
//
//   silu(x)       = x * sigmoid(x)                         (UNet, VAE)
//   gelu(x)       = x * Phi(x) = 0.5 x (1 + erf(x / sqrt2)) (exact, not the tanh approximation)
//   quick_gelu(x) = x * sigmoid(1.702 x)                    (OpenAI CLIP)
//   geglu(x)      = x[:, :F] * gelu(x[:, F:]) for x (rows, 2F) -> (rows, F): diffusers' GEGLU,
//                   `hidden, gate = proj(x).chunk(2, dim=-1); return hidden * gelu(gate)`
//
// All are grid-stride loops over n (or rows * F) elements, so any grid covers any size and the host
// runs them as plain loops. Contract: forward writes out (=), backward writes dinp (=); out may be inp
// and dinp may be dout for the elementwise ones (each element is read before it is written).
#include "common.cuh"

namespace sumi::activation {

enum class Kind { Silu, Gelu, QuickGelu };

__device__ __forceinline__ float sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }

constexpr float kInvSqrt2 = 0.70710678118654752f;
constexpr float kInvSqrt2Pi = 0.39894228040143268f;
constexpr float kQuickGelu = 1.702f;

template <Kind K>
__device__ __forceinline__ float act(float x) {
    if (K == Kind::Silu) return x * sigmoid(x);
    if (K == Kind::Gelu) return 0.5f * x * (1.0f + erff(x * kInvSqrt2));
    return x * sigmoid(kQuickGelu * x);
}

// d act / dx
template <Kind K>
__device__ __forceinline__ float act_grad(float x) {
    if (K == Kind::Silu) {
        const float s = sigmoid(x);
        return s * (1.0f + x * (1.0f - s));
    }
    if (K == Kind::Gelu) return 0.5f * (1.0f + erff(x * kInvSqrt2)) + x * kInvSqrt2Pi * expf(-0.5f * x * x);
    const float s = sigmoid(kQuickGelu * x);
    return s * (1.0f + kQuickGelu * x * (1.0f - s));
}

template <Kind K, class T>
__device__ void forward(T* out, const T* inp, int64_t n) {
    for (int64_t i = global_thread_index(); i < n; i += grid_thread_count()) out[i] = from_float<T>(act<K>(to_float(inp[i])));
}

template <Kind K, class T>
__device__ void backward(T* dinp, const T* dout, const T* inp, int64_t n) {
    for (int64_t i = global_thread_index(); i < n; i += grid_thread_count()) {
        dinp[i] = from_float<T>(to_float(dout[i]) * act_grad<K>(to_float(inp[i])));
    }
}

template <class T>
__device__ void geglu_forward(T* out, const T* inp, int64_t rows, int F) {
    const int64_t n = rows * F;
    for (int64_t i = global_thread_index(); i < n; i += grid_thread_count()) {
        const int64_t r = i / F, f = i % F;
        const float h = to_float(inp[r * 2 * F + f]), g = to_float(inp[r * 2 * F + F + f]);
        out[i] = from_float<T>(h * act<Kind::Gelu>(g));
    }
}

template <class T>
__device__ void geglu_backward(T* dinp, const T* dout, const T* inp, int64_t rows, int F) {
    const int64_t n = rows * F;
    for (int64_t i = global_thread_index(); i < n; i += grid_thread_count()) {
        const int64_t r = i / F, f = i % F;
        const float h = to_float(inp[r * 2 * F + f]), g = to_float(inp[r * 2 * F + F + f]), d = to_float(dout[i]);
        dinp[r * 2 * F + f] = from_float<T>(d * act<Kind::Gelu>(g));
        dinp[r * 2 * F + F + f] = from_float<T>(d * h * act_grad<Kind::Gelu>(g));
    }
}

}  // namespace sumi::activation

#define SUMI_ACTIVATION_KIND(T, S, NAME, K)                                                                           \
    /* out, inp: (n) */                                                                                               \
    SUMI_KERNEL void NAME##_forward_##S(T* out, const T* inp, int64_t n) { sumi::activation::forward<K>(out, inp, n); } \
    /* dinp (=), dout, inp: (n) */                                                                                    \
    SUMI_KERNEL void NAME##_backward_##S(T* dinp, const T* dout, const T* inp, int64_t n) {                           \
        sumi::activation::backward<K>(dinp, dout, inp, n);                                                            \
    }
#define SUMI_ACTIVATION(T, S)                                                                                         \
    SUMI_ACTIVATION_KIND(T, S, silu, sumi::activation::Kind::Silu)                                                                      \
    SUMI_ACTIVATION_KIND(T, S, gelu, sumi::activation::Kind::Gelu)                                                                      \
    SUMI_ACTIVATION_KIND(T, S, quick_gelu, sumi::activation::Kind::QuickGelu)                                                           \
    /* out: (rows, F); inp: (rows, 2F), value half first, gate half second; out must not overlap inp */               \
    SUMI_KERNEL void geglu_forward_##S(T* out, const T* inp, int64_t rows, int F) {                                    \
        sumi::activation::geglu_forward(out, inp, rows, F);                                                           \
    }                                                                                                                 \
    /* dinp (=): (rows, 2F); dout: (rows, F); inp: (rows, 2F) */                                                      \
    SUMI_KERNEL void geglu_backward_##S(T* dinp, const T* dout, const T* inp, int64_t rows, int F) {                  \
        sumi::activation::geglu_backward(dinp, dout, inp, rows, F);                                                   \
    }
SUMI_FOR_EACH_FLOAT_TYPE(SUMI_ACTIVATION)
