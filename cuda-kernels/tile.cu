// tile.cu: overlapping tiles of NCHW images (TiledVae): cutting a tile out of an image, and blending
// processed tiles back with linear ramps across the overlaps, normalised by the summed weights.
//
// Legend: planes = N * C, H, W = the whole image, th, tw = one tile, (y0, x0) = the tile's top-left
// corner in the image, ramp_* = the lengths (pixels) of the linear ramps on the tile's four edges
// (0: no ramp, the edge lies on the image border).
//
// Weight of tile pixel (y, x): ramp(y; th, top, bottom) * ramp(x; tw, left, right), with
//   ramp(i; n, lead, trail) = min(1, (i + 0.5) / lead [lead > 0], (n - i - 0.5) / trail [trail > 0])
// in float. Two tiles overlapping by exactly `o` pixels with ramps of length `o` have weights summing
// to 1 across the overlap (diffusers' blend_v/blend_h ramp, sampled at pixel centres); where more
// tiles overlap, tile_blend_normalize's division by the summed weight restores a partition of unity.
//
// Contract: tile_crop writes out (=); tile_blend_accumulate adds (+=) into the F32 accumulator acc
// and, for the first plane, into the F32 weight sum wsum, one fmaf per element (tiles are added by
// successive launches, never concurrently: no atomics, bit-reproducible); tile_blend_normalize
// writes out (=) = acc / wsum rounded once to the storage type. Grid-stride loops, no barriers.
#include "common.cuh"

namespace sumi::tile {

__device__ __forceinline__ float ramp(int i, int n, int lead, int trail) {
    float w = 1.0f;
    if (lead > 0) w = fminf(w, (static_cast<float>(i) + 0.5f) / static_cast<float>(lead));
    if (trail > 0) w = fminf(w, (static_cast<float>(n - i) - 0.5f) / static_cast<float>(trail));
    return w;
}

// out (planes, th, tw) = inp (planes, H, W)[:, y0 : y0 + th, x0 : x0 + tw]
template <class T>
__device__ void crop(T* out, const T* inp, int64_t planes, int H, int W, int th, int tw, int y0, int x0) {
    const int64_t n = planes * th * tw;
    for (int64_t i = global_thread_index(); i < n; i += grid_thread_count()) {
        const int64_t x = i % tw, y = (i / tw) % th, p = i / (static_cast<int64_t>(tw) * th);
        out[i] = inp[(p * H + y0 + y) * W + x0 + x];
    }
}

// acc (planes, H, W) += w * tile (planes, th, tw) at (y0, x0); wsum (H, W) += w once per pixel
template <class T>
__device__ void blend_accumulate(float* acc, float* wsum, const T* tile, int64_t planes, int H, int W, int th, int tw, int y0,
                                 int x0, int ramp_top, int ramp_bottom, int ramp_left, int ramp_right) {
    const int64_t n = planes * th * tw;
    for (int64_t i = global_thread_index(); i < n; i += grid_thread_count()) {
        const int x = static_cast<int>(i % tw), y = static_cast<int>((i / tw) % th);
        const int64_t p = i / (static_cast<int64_t>(tw) * th);
        const float w = ramp(y, th, ramp_top, ramp_bottom) * ramp(x, tw, ramp_left, ramp_right);
        const int64_t pix = static_cast<int64_t>(y0 + y) * W + x0 + x;
        float* a = acc + p * H * W + pix;
        *a = fmaf(w, to_float(tile[i]), *a);
        if (p == 0) wsum[pix] += w;
    }
}

// out (planes, HW) = acc / wsum (HW)
template <class T>
__device__ void blend_normalize(T* out, const float* acc, const float* wsum, int64_t planes, int64_t HW) {
    const int64_t n = planes * HW;
    for (int64_t i = global_thread_index(); i < n; i += grid_thread_count()) out[i] = from_float<T>(acc[i] / wsum[i % HW]);
}

}  // namespace sumi::tile

#define SUMI_TILE(T, S)                                                                                                    \
    /* out: (planes, th, tw); inp: (planes, H, W) */                                                                      \
    SUMI_KERNEL void tile_crop_##S(T* out, const T* inp, int64_t planes, int H, int W, int th, int tw, int y0, int x0) {   \
        sumi::tile::crop(out, inp, planes, H, W, th, tw, y0, x0);                                                          \
    }                                                                                                                      \
    /* acc (+=): (planes, H, W) float; wsum (+=): (H, W) float; tile: (planes, th, tw) */                                 \
    SUMI_KERNEL void tile_blend_accumulate_##S(float* acc, float* wsum, const T* tile, int64_t planes, int H, int W,       \
                                               int th, int tw, int y0, int x0, int ramp_top, int ramp_bottom,              \
                                               int ramp_left, int ramp_right) {                                            \
        sumi::tile::blend_accumulate(acc, wsum, tile, planes, H, W, th, tw, y0, x0, ramp_top, ramp_bottom, ramp_left,      \
                                     ramp_right);                                                                          \
    }                                                                                                                      \
    /* out: (planes, HW); acc: (planes, HW) float; wsum: (HW) float */                                                    \
    SUMI_KERNEL void tile_blend_normalize_##S(T* out, const float* acc, const float* wsum, int64_t planes, int64_t HW) {   \
        sumi::tile::blend_normalize(out, acc, wsum, planes, HW);                                                           \
    }
SUMI_FOR_EACH_FLOAT_TYPE(SUMI_TILE)
