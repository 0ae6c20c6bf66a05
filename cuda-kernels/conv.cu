// conv.cu: the non-GEMM parts of NCHW conv2d (the GEMMs run through Device.gemm; see Conv2dOps.java).
//
// Dimension legend: N = images in the launch (a chunk of the batch), C = input channels, H, W = input
// height and width, K = kernel size (K x K), S = stride, PT / PL = padding above / left of the input
// (the bottom / right padding only shows in Ho, Wo), Ho, Wo = output height and width, P = Ho * Wo,
// R = C * K * K (rows of the column matrix), Co = output channels.
//
//   conv2d_im2col     col (N, R, P) = the input patches; padding reads as 0           (=)
//   conv2d_col2im     dx (N, C, H, W) = sum of the dcol entries each pixel fed          (=)
//                     a gather: one thread per input pixel, no atomics, so it is deterministic
//   conv2d_bias_fill  out (N, Co, P) = bias[co], broadcast, before a beta = 1 GEMM adds the conv (=)
//   conv2d_bias_backward  dbias (Co) += sum over N and P of dout; one block per channel, float
//                     accumulation, no atomics (deterministic)
//
// The launch ABI passes only pointers and scalars, so each thin __global__ packs its scalars into a
// flash.h-style Conv2dGeometry with 64-bit strides once and hands that to the __device__ body.
#include "common.cuh"

namespace sumi::conv {

struct Conv2dGeometry {
    int64_t n, c, h, w;               // input (N, C, H, W)
    int64_t k, stride, pad_top, pad_left;
    int64_t h_out, w_out;
    int64_t p;                        // Ho * Wo
    int64_t rows;                     // R = C * K * K
    int64_t x_batch_stride;           // C * H * W
    int64_t x_channel_stride;         // H * W
    int64_t col_batch_stride;         // R * P
};

__device__ __forceinline__ Conv2dGeometry make_geometry(int n, int c, int h, int w, int k, int stride, int pad_top, int pad_left,
                                                        int h_out, int w_out) {
    Conv2dGeometry g;
    g.n = n; g.c = c; g.h = h; g.w = w;
    g.k = k; g.stride = stride; g.pad_top = pad_top; g.pad_left = pad_left;
    g.h_out = h_out; g.w_out = w_out;
    g.p = static_cast<int64_t>(h_out) * w_out;
    g.rows = static_cast<int64_t>(c) * k * k;
    g.x_channel_stride = static_cast<int64_t>(h) * w;
    g.x_batch_stride = g.c * g.x_channel_stride;
    g.col_batch_stride = g.rows * g.p;
    return g;
}

// One thread per (image, input channel, output pixel), Caffe's im2col: the index arithmetic is paid
// once for the K*K entries the thread writes, and neighbouring threads write neighbouring pixels.
// col[n, (ci*K + kh)*K + kw, oh*Wo + ow] = x[n, ci, oh*S - PT + kh, ow*S - PL + kw].
template <class T>
__device__ void im2col(T* col, const T* x, const Conv2dGeometry g) {
    const int64_t total = g.n * g.c * g.p;
    const T zero = from_float<T>(0.0f);
    for (int64_t i = global_thread_index(); i < total; i += grid_thread_count()) {
        const int64_t plane = i / g.p, pix = i - plane * g.p;   // plane = n * C + ci
        const int64_t img = plane / g.c, ci = plane - img * g.c;
        const int64_t oh = pix / g.w_out, ow = pix - oh * g.w_out;
        const int64_t ih0 = oh * g.stride - g.pad_top, iw0 = ow * g.stride - g.pad_left;
        const T* xp = x + plane * g.x_channel_stride;
        T* cp = col + img * g.col_batch_stride + ci * g.k * g.k * g.p + pix;
        for (int64_t kh = 0; kh < g.k; kh++) {
            const int64_t ih = ih0 + kh;
            const bool row_inside = ih >= 0 && ih < g.h;
            for (int64_t kw = 0; kw < g.k; kw++) {
                const int64_t iw = iw0 + kw;
                *cp = row_inside && iw >= 0 && iw < g.w ? xp[ih * g.w + iw] : zero;
                cp += g.p;
            }
        }
    }
}

// One thread per input pixel: dx[n, ci, ih, iw] = sum over (kh, kw) with ih = oh*S - PT + kh and
// iw = ow*S - PL + kw for an output pixel (oh, ow) inside the output, of dcol[n, (ci*K + kh)*K + kw, oh*Wo + ow].
template <class T>
__device__ void col2im(T* dx, const float* dcol, const Conv2dGeometry g) {
    const int64_t total = g.n * g.x_batch_stride;
    for (int64_t i = global_thread_index(); i < total; i += grid_thread_count()) {
        const int64_t img = i / g.x_batch_stride;
        const int64_t rem = i - img * g.x_batch_stride;
        const int64_t ci = rem / g.x_channel_stride, hw = rem - ci * g.x_channel_stride;
        const int64_t ih = hw / g.w, iw = hw - ih * g.w;
        const float* d = dcol + img * g.col_batch_stride + ci * g.k * g.k * g.p;
        float acc = 0.0f;
        for (int64_t kh = 0; kh < g.k; kh++) {
            const int64_t th = ih + g.pad_top - kh;     // = oh * S
            if (th < 0 || th % g.stride != 0) continue;
            const int64_t oh = th / g.stride;
            if (oh >= g.h_out) continue;
            for (int64_t kw = 0; kw < g.k; kw++) {
                const int64_t tw = iw + g.pad_left - kw;
                if (tw < 0 || tw % g.stride != 0) continue;
                const int64_t ow = tw / g.stride;
                if (ow >= g.w_out) continue;
                acc += d[(kh * g.k + kw) * g.p + oh * g.w_out + ow];
            }
        }
        dx[i] = from_float<T>(acc);
    }
}

template <class T>
__device__ void bias_fill(T* out, const T* bias, int64_t n, int64_t channels, int64_t p) {
    const int64_t total = n * channels * p;
    for (int64_t i = global_thread_index(); i < total; i += grid_thread_count()) out[i] = bias[(i / p) % channels];
}

// grid.x = channels; blockDim.x a multiple of 32
template <class G, class T>
__device__ void bias_backward(G* dbias, const T* dout, int64_t n, int64_t channels, int64_t p) {
    const int64_t c = blockIdx.x;
    if (c >= channels) return;
    float acc = 0.0f;
    for (int64_t img = 0; img < n; img++) {
        const T* d = dout + (img * channels + c) * p;
        for (int64_t j = threadIdx.x; j < p; j += blockDim.x) acc += to_float(d[j]);
    }
    acc = block_reduce_sum(acc);
    if (threadIdx.x == 0) dbias[c] = from_float<G>(to_float(dbias[c]) + acc);
}

}  // namespace sumi::conv

#define SUMI_CONV(T, S)                                                                                                    \
    /* col: (N, C*K*K, Ho*Wo), x: (N, C, H, W); col = patches of x, 0 in the padding */                                    \
    SUMI_KERNEL void conv2d_im2col_##S(T* col, const T* x, int n, int c, int h, int w, int k, int stride, int pad_top,      \
                                       int pad_left, int h_out, int w_out) {                                                \
        sumi::conv::im2col(col, x, sumi::conv::make_geometry(n, c, h, w, k, stride, pad_top, pad_left, h_out, w_out));     \
    }                                                                                                                      \
    /* dx: (N, C, H, W), dcol: (N, C*K*K, Ho*Wo) float; dx = col2im(dcol), a gather summed in float */                     \
    SUMI_KERNEL void conv2d_col2im_##S(T* dx, const float* dcol, int n, int c, int h, int w, int k, int stride,            \
                                       int pad_top, int pad_left, int h_out, int w_out) {                                  \
        sumi::conv::col2im(dx, dcol, sumi::conv::make_geometry(n, c, h, w, k, stride, pad_top, pad_left, h_out, w_out));   \
    }                                                                                                                      \
    /* out: (N, Co, P), bias: (Co); out = bias broadcast over N and P */                                                   \
    SUMI_KERNEL void conv2d_bias_fill_##S(T* out, const T* bias, int n, int channels, int64_t p) {                         \
        sumi::conv::bias_fill(out, bias, n, channels, p);                                                                  \
    }                                                                                                                      \
    /* dbias: (Co) float, dout: (N, Co, P); dbias += sum over N and P of dout; grid.x = Co */                              \
    SUMI_KERNEL void conv2d_bias_backward_##S(float* dbias, const T* dout, int n, int channels, int64_t p) {               \
        sumi::conv::bias_backward(dbias, dout, n, channels, p);                                                            \
    }
SUMI_FOR_EACH_FLOAT_TYPE(SUMI_CONV)

// ---- benchmark comparison only (bench/ConvBench): the NHWC layout's im2col, not used by the ops ----
// col: (N, Ho*Wo, K*K*C), x: (N, H, W, C); col[n, oh*Wo + ow, (kh*K + kw)*C + ci] = x[n, ih, iw, ci], 0 in
// the padding. A row of col is K*K contiguous runs of C channels, so the GEMM's reduction runs along
// memory and all images form one (N*P, R) matrix.
namespace sumi::conv {
template <class T>
__device__ void im2col_nhwc(T* col, const T* x, const Conv2dGeometry g) {
    const int64_t kk_count = g.k * g.k;
    const int64_t total = g.n * g.p * kk_count;   // one thread per (image, pixel, kh, kw): a run of C channels
    const T zero = from_float<T>(0.0f);
    for (int64_t i = global_thread_index(); i < total; i += grid_thread_count()) {
        const int64_t row = i / kk_count, kk = i - row * kk_count;   // row = n * P + pixel
        const int64_t img = row / g.p, pix = row - img * g.p;
        const int64_t kh = kk / g.k, kw = kk - kh * g.k;
        const int64_t oh = pix / g.w_out, ow = pix - oh * g.w_out;
        const int64_t ih = oh * g.stride - g.pad_top + kh, iw = ow * g.stride - g.pad_left + kw;
        const bool inside = ih >= 0 && ih < g.h && iw >= 0 && iw < g.w;
        T* cp = col + row * g.rows + kk * g.c;
        if (inside) {
            const T* xp = x + img * g.x_batch_stride + (ih * g.w + iw) * g.c;
            for (int64_t ci = 0; ci < g.c; ci++) cp[ci] = xp[ci];
        } else {
            for (int64_t ci = 0; ci < g.c; ci++) cp[ci] = zero;
        }
    }
}
}  // namespace sumi::conv

#define SUMI_CONV_NHWC(T, S)                                                                                               \
    SUMI_KERNEL void conv2d_im2col_nhwc_##S(T* col, const T* x, int n, int c, int h, int w, int k, int stride,              \
                                            int pad_top, int pad_left, int h_out, int w_out) {                             \
        sumi::conv::im2col_nhwc(col, x, sumi::conv::make_geometry(n, c, h, w, k, stride, pad_top, pad_left, h_out, w_out)); \
    }
SUMI_FOR_EACH_FLOAT_TYPE(SUMI_CONV_NHWC)
