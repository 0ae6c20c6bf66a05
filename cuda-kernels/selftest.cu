// selftest.cu: kernels that exercise the execution model itself (built-in indices, barriers, warp
// shuffles, dynamic shared memory, atomics). `sumi doctor` runs them on every device, and the tests
// check that the host target behaves as a GPU does.
#include "common.cuh"

// out: (grid blocks * block threads, 6) ints: blockIdx.xyz and threadIdx.xyz of each thread,
// stored at its linear global position (3D grid and block).
SUMI_KERNEL void selftest_indices(int* out) {
    const int64_t block = blockIdx.x + static_cast<int64_t>(gridDim.x) * (blockIdx.y + static_cast<int64_t>(gridDim.y) * blockIdx.z);
    const int64_t thread = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
    int* o = out + 6 * (block * blockDim.x * blockDim.y * blockDim.z + thread);
    o[0] = blockIdx.x; o[1] = blockIdx.y; o[2] = blockIdx.z;
    o[3] = threadIdx.x; o[4] = threadIdx.y; o[5] = threadIdx.z;
}

// out: (blockDim.x, 8) ints per block; blockDim.x a multiple of 32. For lane l the row holds
// shfl_xor(l, 1), shfl_xor(l, 16), shfl_down(l, 3), shfl_up(l, 5), shfl(l, 7), shfl_xor width 8 (l, 4),
// ballot(l odd), and the warp sum of l by a butterfly.
SUMI_KERNEL void selftest_shuffles(int* out) {
    const int lane = threadIdx.x % 32;
    int* o = out + 8 * (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x);
    o[0] = __shfl_xor_sync(0xffffffffu, lane, 1);
    o[1] = __shfl_xor_sync(0xffffffffu, lane, 16);
    o[2] = __shfl_down_sync(0xffffffffu, lane, 3);
    o[3] = __shfl_up_sync(0xffffffffu, lane, 5);
    o[4] = __shfl_sync(0xffffffffu, lane, 7);
    o[5] = __shfl_xor_sync(0xffffffffu, lane, 4, 8);
    o[6] = static_cast<int>(__ballot_sync(0xffffffffu, lane & 1));
    o[7] = static_cast<int>(sumi::warp_reduce_sum(static_cast<float>(lane)));
}

// out, in: (n); each block reverses its blockDim.x-element slice through dynamic shared memory
// (blockDim.x floats); elements past n are left alone.
SUMI_KERNEL void selftest_reverse_blocks(float* out, const float* in, int64_t n) {
    SUMI_DYNAMIC_SHARED(float, tile);
    const int64_t base = static_cast<int64_t>(blockIdx.x) * blockDim.x;
    const int64_t count = n - base < blockDim.x ? n - base : blockDim.x;
    if (threadIdx.x < count) tile[threadIdx.x] = in[base + threadIdx.x];
    __syncthreads();
    if (threadIdx.x < count) out[base + threadIdx.x] = tile[count - 1 - threadIdx.x];
}

// counter: (1) int, sum: (1) float, both zeroed; every one of the n threads adds 1 to each.
SUMI_KERNEL void selftest_atomics(int* counter, float* sum, int64_t n) {
    if (sumi::global_thread_index() < n) {
        atomicAdd(counter, 1);
        atomicAdd(sum, 1.0f);
    }
}

// A barrier that only some lanes of a warp reach, the rest waiting at __syncthreads: undefined on a
// GPU (never launch it there); the host target must report it instead of hanging.
SUMI_KERNEL void selftest_divergent_barrier(int* out) {
    if (threadIdx.x % 32 < 16) __syncwarp();
    else __syncthreads();
    out[threadIdx.x] = 1;
}

// out, in: (n); each block reverses its blockDim.x-element slice (blockDim.x <= 1024) through a 4 KiB
// static __shared__ array. On the host, static shared memory is thread-local storage of the library:
// this kernel keeps that storage large enough that a TLS model needing the static TLS reserve fails to load.
SUMI_KERNEL void selftest_reverse_blocks_static(float* out, const float* in, int64_t n) {
    __shared__ float tile[1024];
    const int64_t base = static_cast<int64_t>(blockIdx.x) * blockDim.x;
    const int64_t count = n - base < blockDim.x ? n - base : blockDim.x;
    if (threadIdx.x < count) tile[threadIdx.x] = in[base + threadIdx.x];
    __syncthreads();
    if (threadIdx.x < count) out[base + threadIdx.x] = tile[count - 1 - threadIdx.x];
}
