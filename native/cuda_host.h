// cuda_host.h: the host target of cuda-kernels/. With this header g++ compiles the same .cu files
// that nvcc compiles for the GPU: a block's threads become fibers (or a plain loop when the kernel
// never synchronises), blocks are spread over the worker threads, __shared__ variables live once per
// worker thread (one block runs on a worker at a time), and warp shuffles exchange values through a
// per-warp slot array between two warp barriers. The scheduler is native/host_runtime.cpp.
#pragma once

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "host_fp.h"

// ---- qualifiers --------------------------------------------------------------------------------
#ifdef SUMI_SCAN
// The build's kernel scan (native/gen/KernelScan.java) preprocesses with SUMI_SCAN to find kernels.
#define __global__ __sumi_kernel__
#else
#define __global__
#endif
#define __device__
#define __host__
#define __forceinline__ inline __attribute__((always_inline))
#define __noinline__ __attribute__((noinline))
#define __restrict__ __restrict
#define __launch_bounds__(...)
#define __align__(n) alignas(n)
// One block runs on a worker thread at a time, so per-thread storage is per-block storage.
#define __shared__ static thread_local

// ---- built-in variables ------------------------------------------------------------------------
struct uint3 { unsigned int x, y, z; };
struct dim3 {
    unsigned int x = 1, y = 1, z = 1;
    constexpr dim3() = default;
    constexpr dim3(unsigned int x_, unsigned int y_ = 1, unsigned int z_ = 1) : x(x_), y(y_), z(z_) {}
};

// Read in every kernel's inner loop, so __thread: plain-old-data TLS, no C++ init-guard calls. Not the
// initial-exec model: one initial-exec access anywhere puts the library's whole TLS block (every
// __shared__ array of every kernel) into the small static-TLS reserve glibc keeps for dlopen'd
// libraries, and loading fails ("cannot allocate memory in static TLS block") once kernels share a
// few hundred bytes. scripts/build-kernels compiles with TLS descriptors (-mtls-dialect=gnu2) on
// x86-64, which keeps access nearly as cheap.
// blockDim and gridDim are uint3 rather than dim3 here: kernels only read their x, y and z.
extern __thread uint3 threadIdx;
extern __thread uint3 blockIdx;
extern __thread uint3 blockDim;
extern __thread uint3 gridDim;
constexpr int warpSize = 32;

namespace sumi::host {
void block_barrier();                 // __syncthreads
void warp_barrier();                  // the lanes of the calling thread's warp meet
uint64_t* warp_exchange_slots();      // 32 slots of the calling warp for its next exchange
unsigned lane_id();                   // linear thread index % 32
unsigned warp_lanes();                // lanes that exist in the calling thread's warp (<= 32)
unsigned active_lane_mask();          // lanes of the warp that have not exited
void* dynamic_shared();               // the launch's dynamic shared memory for this block
}  // namespace sumi::host

#define SUMI_DYNAMIC_SHARED(T, name) T* name = reinterpret_cast<T*>(sumi::host::dynamic_shared())

// ---- synchronisation and warp primitives ---------------------------------------------------------
inline void __syncthreads() { sumi::host::block_barrier(); }
inline void __syncwarp(unsigned = 0xffffffffu) { sumi::host::warp_barrier(); }
inline unsigned __activemask() { return sumi::host::active_lane_mask(); }

namespace sumi::host {
// Every lane publishes `var`, meets the others at a warp barrier, then reads lane `src` (its own
// value if `src` does not exist). Exchanges alternate between two slot arrays, so one barrier per
// exchange is enough: a lane can only overwrite an array after the whole warp has passed the next
// barrier, by which time every lane has read it.
template <class T>
inline T warp_exchange(T var, unsigned src) {
    static_assert(sizeof(T) <= 8 && std::is_trivially_copyable_v<T>, "warp shuffles move values of up to 8 bytes");
    uint64_t* slots = warp_exchange_slots();
    unsigned lane = lane_id();
    std::memcpy(&slots[lane], &var, sizeof(T));
    warp_barrier();
    T out = var;
    if (src < warp_lanes()) std::memcpy(&out, &slots[src], sizeof(T));
    return out;
}
}  // namespace sumi::host

template <class T>
inline T __shfl_sync(unsigned, T var, int src_lane, int width = warpSize) {
    unsigned lane = sumi::host::lane_id();
    unsigned base = lane & ~static_cast<unsigned>(width - 1);
    return sumi::host::warp_exchange(var, base + (static_cast<unsigned>(src_lane) % static_cast<unsigned>(width)));
}
template <class T>
inline T __shfl_xor_sync(unsigned, T var, int lane_mask, int width = warpSize) {
    unsigned lane = sumi::host::lane_id();
    unsigned src = lane ^ static_cast<unsigned>(lane_mask);
    // a source in a higher segment than the caller's yields the caller's own value (CUDA semantics)
    if ((src & ~static_cast<unsigned>(width - 1)) > (lane & ~static_cast<unsigned>(width - 1))) src = lane;
    return sumi::host::warp_exchange(var, src);
}
template <class T>
inline T __shfl_down_sync(unsigned, T var, unsigned delta, int width = warpSize) {
    unsigned lane = sumi::host::lane_id();
    unsigned seg = lane % static_cast<unsigned>(width);
    unsigned src = (seg + delta < static_cast<unsigned>(width)) ? lane + delta : lane;
    return sumi::host::warp_exchange(var, src);
}
template <class T>
inline T __shfl_up_sync(unsigned, T var, unsigned delta, int width = warpSize) {
    unsigned lane = sumi::host::lane_id();
    unsigned seg = lane % static_cast<unsigned>(width);
    unsigned src = (seg >= delta) ? lane - delta : lane;
    return sumi::host::warp_exchange(var, src);
}
inline unsigned __ballot_sync(unsigned mask, int predicate) {
    uint64_t* slots = sumi::host::warp_exchange_slots();
    unsigned lane = sumi::host::lane_id();
    slots[lane] = predicate ? 1u : 0u;
    sumi::host::warp_barrier();
    unsigned live = sumi::host::active_lane_mask() & mask, bits = 0;
    for (unsigned i = 0; i < sumi::host::warp_lanes(); i++)
        if (((live >> i) & 1u) && slots[i]) bits |= 1u << i;
    return bits;
}
inline int __any_sync(unsigned mask, int predicate) { return __ballot_sync(mask, predicate) != 0; }
inline int __all_sync(unsigned mask, int predicate) {
    return __ballot_sync(mask, predicate) == (sumi::host::active_lane_mask() & mask);
}

// ---- atomics (blocks run on several worker threads at once) --------------------------------------
template <class T>
inline T sumi_atomic_add(T* address, T value) {
    return std::atomic_ref<T>(*address).fetch_add(value, std::memory_order_relaxed);
}
inline float atomicAdd(float* a, float v) { return sumi_atomic_add(a, v); }
inline double atomicAdd(double* a, double v) { return sumi_atomic_add(a, v); }
inline int atomicAdd(int* a, int v) { return sumi_atomic_add(a, v); }
inline unsigned atomicAdd(unsigned* a, unsigned v) { return sumi_atomic_add(a, v); }
inline unsigned long long atomicAdd(unsigned long long* a, unsigned long long v) { return sumi_atomic_add(a, v); }
template <class T>
inline T sumi_atomic_update(T* address, T (*f)(T, T), T value) {
    std::atomic_ref<T> ref(*address);
    T old = ref.load(std::memory_order_relaxed);
    while (!ref.compare_exchange_weak(old, f(old, value), std::memory_order_relaxed)) {}
    return old;
}
inline int atomicMax(int* a, int v) { return sumi_atomic_update<int>(a, [](int x, int y) { return x > y ? x : y; }, v); }
inline unsigned atomicMax(unsigned* a, unsigned v) { return sumi_atomic_update<unsigned>(a, [](unsigned x, unsigned y) { return x > y ? x : y; }, v); }
inline int atomicMin(int* a, int v) { return sumi_atomic_update<int>(a, [](int x, int y) { return x < y ? x : y; }, v); }
inline unsigned atomicMin(unsigned* a, unsigned v) { return sumi_atomic_update<unsigned>(a, [](unsigned x, unsigned y) { return x < y ? x : y; }, v); }
template <class T>
inline T sumi_atomic_cas(T* address, T compare, T value) {
    std::atomic_ref<T>(*address).compare_exchange_strong(compare, value, std::memory_order_relaxed);
    return compare;
}
inline int atomicCAS(int* a, int c, int v) { return sumi_atomic_cas(a, c, v); }
inline unsigned atomicCAS(unsigned* a, unsigned c, unsigned v) { return sumi_atomic_cas(a, c, v); }
inline unsigned long long atomicCAS(unsigned long long* a, unsigned long long c, unsigned long long v) { return sumi_atomic_cas(a, c, v); }
inline int atomicExch(int* a, int v) { return std::atomic_ref<int>(*a).exchange(v, std::memory_order_relaxed); }
inline float atomicExch(float* a, float v) { return std::atomic_ref<float>(*a).exchange(v, std::memory_order_relaxed); }
inline void __threadfence() { std::atomic_thread_fence(std::memory_order_seq_cst); }

// ---- half and bfloat16 -------------------------------------------------------------------------
// Storage types with the GPU's conversions; arithmetic in kernels goes through float.
struct __half { uint16_t __x; };
struct __nv_bfloat16 { uint16_t __x; };
inline float __half2float(__half h) { return sumi::fp::f16_to_f32(h.__x); }
inline __half __float2half_rn(float f) { return __half{sumi::fp::f32_to_f16_rn(f)}; }
inline __half __float2half(float f) { return __float2half_rn(f); }
inline float __bfloat162float(__nv_bfloat16 h) { return sumi::fp::bf16_to_f32(h.__x); }
inline __nv_bfloat16 __float2bfloat16_rn(float f) { return __nv_bfloat16{sumi::fp::f32_to_bf16_rn(f)}; }
inline __nv_bfloat16 __float2bfloat16(float f) { return __float2bfloat16_rn(f); }
inline unsigned short __half_as_ushort(__half h) { return h.__x; }
inline __half __ushort_as_half(unsigned short u) { return __half{u}; }
inline unsigned short __bfloat16_as_ushort(__nv_bfloat16 h) { return h.__x; }
inline __nv_bfloat16 __ushort_as_bfloat16(unsigned short u) { return __nv_bfloat16{u}; }

// ---- math intrinsics ---------------------------------------------------------------------------
using std::max;
using std::min;
inline float __expf(float x) { return std::exp(x); }
inline float __logf(float x) { return std::log(x); }
inline float __fdividef(float a, float b) { return a / b; }
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline float __frsqrt_rn(float x) { return 1.0f / std::sqrt(x); }
inline float __saturatef(float x) { return x < 0.f ? 0.f : (x > 1.f ? 1.f : x); }
inline float __int_as_float(int i) { float f; std::memcpy(&f, &i, 4); return f; }
inline int __float_as_int(float f) { int i; std::memcpy(&i, &f, 4); return i; }
inline float __uint_as_float(unsigned i) { float f; std::memcpy(&f, &i, 4); return f; }
inline unsigned __float_as_uint(float f) { unsigned i; std::memcpy(&i, &f, 4); return i; }
template <class T>
inline T __ldg(const T* p) { return *p; }
