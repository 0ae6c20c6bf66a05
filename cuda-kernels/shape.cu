// shape.cu: data movement and embeddings around the networks: nearest-neighbour 2x upsampling (UNet
// and VAE up blocks), channel concatenation of two NCHW tensors and its split (UNet skip connections),
// the sinusoidal timestep embedding, and CLIP's token + position embedding lookup.
//
// Legend: N = batch, C = channels, H, W = input height and width, Ca, Cb = channels of the two concat
// inputs, HW = H * W, B = batch, T = tokens per sequence, V = vocabulary size, P = positions (>= T).
//
// Contract: forwards write out (=); backwards write input gradients (=), except the embedding tables'
// gradients, which accumulate (+=). Every kernel is a grid-stride loop (or one thread per column),
// never a barrier: the host runs them as plain loops. No atomics: every result is bit-reproducible
// on both targets, including the scatter-add of repeated token ids.
#include "common.cuh"

namespace sumi::shape {

// out (planes, 2H, 2W) = in (planes, H, W) repeated 2x2
template <class T>
__device__ void upsample_nearest2x_forward(T* out, const T* inp, int64_t planes, int H, int W) {
    const int64_t W2 = 2 * static_cast<int64_t>(W), n = planes * 4 * H * W;
    for (int64_t i = global_thread_index(); i < n; i += grid_thread_count()) {
        const int64_t x = i % W2, y = (i / W2) % (2 * H), p = i / (W2 * 2 * H);
        out[i] = inp[(p * H + y / 2) * W + x / 2];
    }
}

// din (planes, H, W) = sum of the 2x2 children of dout (planes, 2H, 2W), in row-major order, in float
template <class T>
__device__ void upsample_nearest2x_backward(T* dinp, const T* dout, int64_t planes, int H, int W) {
    const int64_t W2 = 2 * static_cast<int64_t>(W), n = planes * H * W;
    for (int64_t i = global_thread_index(); i < n; i += grid_thread_count()) {
        const int64_t x = i % W, y = (i / W) % H, p = i / (static_cast<int64_t>(W) * H);
        const T* d = dout + (p * 2 * H + 2 * y) * W2 + 2 * x;
        dinp[i] = from_float<T>(((to_float(d[0]) + to_float(d[1])) + to_float(d[W2])) + to_float(d[W2 + 1]));
    }
}

template <class T>
__device__ void concat_channels_forward(T* out, const T* a, const T* b, int N, int Ca, int Cb, int64_t HW) {
    const int64_t sa = Ca * HW, sb = Cb * HW, so = sa + sb, n = N * so;
    for (int64_t i = global_thread_index(); i < n; i += grid_thread_count()) {
        const int64_t s = i / so, j = i % so;
        out[i] = j < sa ? a[s * sa + j] : b[s * sb + (j - sa)];
    }
}

template <class T>
__device__ void concat_channels_backward(T* da, T* db, const T* dout, int N, int Ca, int Cb, int64_t HW) {
    const int64_t sa = Ca * HW, sb = Cb * HW, so = sa + sb, n = N * so;
    for (int64_t i = global_thread_index(); i < n; i += grid_thread_count()) {
        const int64_t s = i / so, j = i % so;
        if (j < sa) da[s * sa + j] = dout[i];
        else db[s * sb + (j - sa)] = dout[i];
    }
}

// diffusers' get_timestep_embedding (src/diffusers/models/embeddings.py, e.g. v0.30.3 line 27):
//   half = dim // 2; exponent = -ln(max_period) * arange(half, float32) / (half - downscale_freq_shift)
//   emb = t[:, None].float() * exp(exponent)[None, :]; emb = cat([sin(emb), cos(emb)], -1)
//   flip_sin_to_cos: emb = cat([emb[:, half:], emb[:, :half]], -1); odd dim: one zero column appended.
// SD's UNet uses flip_sin_to_cos = True, downscale_freq_shift = 0, max_period = 10000: [cos | sin].
// The float32 operations are PyTorch's, in its order: (-ln(max_period) * i) / (half - shift), exp, t *.
template <class T>
__device__ void timestep_embedding(T* out, const float* t, int N, int dim, int flip_sin_to_cos, float downscale_freq_shift,
                                   float neg_log_max_period) {
    const int half = dim / 2;
    const int64_t n = static_cast<int64_t>(N) * dim;
    for (int64_t i = global_thread_index(); i < n; i += grid_thread_count()) {
        const int row = static_cast<int>(i / dim), col = static_cast<int>(i % dim);
        if (col >= 2 * half) {
            out[i] = from_float<T>(0.0f);
            continue;
        }
        const int k = col % half;
        const bool first = col < half;  // first half: sin, or cos when flipped
        const float freq = expf((neg_log_max_period * static_cast<float>(k)) / (static_cast<float>(half) - downscale_freq_shift));
        const float arg = t[row] * freq;
        out[i] = from_float<T>(first != (flip_sin_to_cos != 0) ? sinf(arg) : cosf(arg));
    }
}

// out[b, t, :] = tok[ids[b, t], :] + pos[t, :]; an id outside [0, V) gives a row of NaN
template <class T>
__device__ void embedding_forward(T* out, const int* ids, const T* tok, const T* pos, int B, int Tn, int C, int V) {
    const int64_t n = static_cast<int64_t>(B) * Tn * C;
    for (int64_t i = global_thread_index(); i < n; i += grid_thread_count()) {
        const int64_t bt = i / C, c = i % C;
        const int id = ids[bt];
        const int64_t t = bt % Tn;
        out[i] = (id < 0 || id >= V) ? from_float<T>(NAN) : from_float<T>(to_float(tok[static_cast<int64_t>(id) * C + c]) + to_float(pos[t * C + c]));
    }
}

// One thread per column c walks the tokens in order, so a repeated id adds its gradients in sequence
// order, deterministically and without atomics (each column has one writer). Every += rounds to T:
// keep dtok in F32 where a token repeats many times. Ids outside [0, V) are skipped.
template <class T>
__device__ void embedding_backward_tokens(T* dtok, const T* dout, const int* ids, int BT, int C, int V) {
    const int64_t c = global_thread_index();
    if (c >= C) return;
    for (int64_t bt = 0; bt < BT; bt++) {
        const int id = ids[bt];
        if (id < 0 || id >= V) continue;
        T* d = dtok + static_cast<int64_t>(id) * C + c;
        *d = from_float<T>(to_float(*d) + to_float(dout[bt * C + c]));
    }
}

// dpos[t, c] += sum over b of dout[b, t, c], summed in float in batch order, one rounding
template <class T>
__device__ void embedding_backward_positions(T* dpos, const T* dout, int B, int Tn, int C) {
    const int64_t n = static_cast<int64_t>(Tn) * C;
    for (int64_t i = global_thread_index(); i < n; i += grid_thread_count()) {
        float s = 0.0f;
        for (int b = 0; b < B; b++) s += to_float(dout[b * n + i]);
        dpos[i] = from_float<T>(to_float(dpos[i]) + s);
    }
}

}  // namespace sumi::shape

#define SUMI_SHAPE(T, S)                                                                                                   \
    /* out: (planes, 2H, 2W); inp: (planes, H, W), planes = N * C */                                                      \
    SUMI_KERNEL void upsample_nearest2x_forward_##S(T* out, const T* inp, int64_t planes, int H, int W) {                  \
        sumi::shape::upsample_nearest2x_forward(out, inp, planes, H, W);                                                   \
    }                                                                                                                      \
    /* dinp (=): (planes, H, W); dout: (planes, 2H, 2W) */                                                                \
    SUMI_KERNEL void upsample_nearest2x_backward_##S(T* dinp, const T* dout, int64_t planes, int H, int W) {               \
        sumi::shape::upsample_nearest2x_backward(dinp, dout, planes, H, W);                                                \
    }                                                                                                                      \
    /* out: (N, Ca + Cb, HW); a: (N, Ca, HW); b: (N, Cb, HW) */                                                           \
    SUMI_KERNEL void concat_channels_forward_##S(T* out, const T* a, const T* b, int N, int Ca, int Cb, int64_t HW) {       \
        sumi::shape::concat_channels_forward(out, a, b, N, Ca, Cb, HW);                                                    \
    }                                                                                                                      \
    /* da (=): (N, Ca, HW); db (=): (N, Cb, HW); dout: (N, Ca + Cb, HW) */                                                \
    SUMI_KERNEL void concat_channels_backward_##S(T* da, T* db, const T* dout, int N, int Ca, int Cb, int64_t HW) {         \
        sumi::shape::concat_channels_backward(da, db, dout, N, Ca, Cb, HW);                                                \
    }                                                                                                                      \
    /* out: (N, dim); t: (N) float timesteps; neg_log_max_period = -ln(max_period) */                                     \
    SUMI_KERNEL void timestep_embedding_##S(T* out, const float* t, int N, int dim, int flip_sin_to_cos,                    \
                                            float downscale_freq_shift, float neg_log_max_period) {                        \
        sumi::shape::timestep_embedding(out, t, N, dim, flip_sin_to_cos, downscale_freq_shift, neg_log_max_period);        \
    }                                                                                                                      \
    /* out: (B, T, C); ids: (B, T) int32; tok: (V, C); pos: (P >= T, C) */                                                \
    SUMI_KERNEL void embedding_forward_##S(T* out, const int* ids, const T* tok, const T* pos, int B, int Tn, int C, int V) { \
        sumi::shape::embedding_forward(out, ids, tok, pos, B, Tn, C, V);                                                   \
    }                                                                                                                      \
    /* dtok (+=): (V, C); dout: (BT, C); ids: (BT) int32; one thread per column (grid covers C) */                        \
    SUMI_KERNEL void embedding_backward_tokens_##S(T* dtok, const T* dout, const int* ids, int BT, int C, int V) {          \
        sumi::shape::embedding_backward_tokens(dtok, dout, ids, BT, C, V);                                                 \
    }                                                                                                                      \
    /* dpos (+=): (T, C), the first T rows of the table; dout: (B, T, C) */                                               \
    SUMI_KERNEL void embedding_backward_positions_##S(T* dpos, const T* dout, int B, int Tn, int C) {                      \
        sumi::shape::embedding_backward_positions(dpos, dout, B, Tn, C);                                                   \
    }
SUMI_FOR_EACH_FLOAT_TYPE(SUMI_SHAPE)
