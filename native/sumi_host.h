// sumi_host.h: the C ABI of libsumi_host, the host build of cuda-kernels/.
// HostDevice (Java, through the Foreign Function & Memory API) is the only caller.
// Every function returns 0 on success or a non-zero status; sumi_host_last_error() then says why.
#pragma once
#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32)
#define SUMI_HOST_API __declspec(dllexport)
#else
#define SUMI_HOST_API __attribute__((visibility("default")))
#endif

#ifdef __cplusplus
extern "C" {
#endif

// ---- kernels ---------------------------------------------------------------------------------
// The table of kernels is generated at build time from cuda-kernels/*.cu (native/gen/KernelScan.java).
SUMI_HOST_API int32_t     sumi_host_kernel_count(void);
SUMI_HOST_API const char* sumi_host_kernel_name(int32_t index);
SUMI_HOST_API int32_t     sumi_host_kernel_arity(int32_t index);
SUMI_HOST_API int64_t     sumi_host_kernel_arg_size(int32_t index, int32_t arg);
SUMI_HOST_API int32_t     sumi_host_kernel_cooperative(int32_t index);

// Runs kernel `index` over grid[0..2] blocks of block[0..2] threads, `shared_bytes` of dynamic shared
// memory, `args[i]` pointing at the value of parameter i (cuLaunchKernel's kernelParams convention).
// Blocks are spread over the worker threads; returns when every block has finished.
SUMI_HOST_API int32_t sumi_host_launch(int32_t index, const uint32_t grid[3], const uint32_t block[3],
                         uint32_t shared_bytes, void** args);

// ---- GEMM (cublasGemmStridedBatchedEx semantics, column-major, F32 compute) --------------------
enum sumi_dtype { SUMI_F32 = 0, SUMI_F16 = 1, SUMI_BF16 = 2 };

// Field order and widths are fixed: HostDevice writes this struct through a matching StructLayout.
typedef struct sumi_gemm_params {
    const void* a;          // op(A) is m x k; A is m x k (trans_a = 0) or k x m (trans_a = 1), column-major
    const void* b;          // op(B) is k x n
    void*       c;          // C is m x n
    int64_t lda, ldb, ldc;  // leading dimensions, in elements
    int64_t stride_a, stride_b, stride_c;  // batch strides, in elements
    int64_t m, n, k, batch;
    int32_t trans_a, trans_b;
    int32_t a_type, b_type, c_type;        // sumi_dtype; a_type == b_type; c_type == a_type or F32
    float   alpha, beta;                   // beta == 0: C is written without being read
} sumi_gemm_params;                        // 136 bytes

SUMI_HOST_API int32_t sumi_host_gemm(const sumi_gemm_params* params);
// Micro-kernel in use: "avx512f", "avx2+fma" or "scalar" (SUMI_HOST_GEMM_ISA=scalar|avx2|avx512 forces a lower one).
SUMI_HOST_API const char* sumi_host_gemm_isa(void);

// ---- runtime -----------------------------------------------------------------------------------
SUMI_HOST_API const char* sumi_host_last_error(void);   // message of the calling thread's last failure
SUMI_HOST_API int32_t     sumi_host_threads(void);      // worker threads, including the caller
SUMI_HOST_API const char* sumi_host_build_info(void);   // compiler, flags, ISA paths compiled in

#ifdef __cplusplus
}
#endif
