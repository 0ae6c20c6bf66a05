// host_pool.h: the worker threads that run kernel blocks and GEMM tiles on the host.
#pragma once
#include <cstdint>
#include <functional>
#include <string>

namespace sumi::host {

// Number of threads that take part in parallel_for (workers plus the calling thread).
int thread_count();

// Calls body(i) for every i in [0, n), spread over the pool; the calling thread works too.
// One parallel_for runs at a time (callers from several threads queue); nested calls run inline.
// An exception thrown by a body is rethrown in the caller after every index has been claimed.
void parallel_for(int64_t n, const std::function<void(int64_t)>& body);

// The calling thread's last error message, set by the C ABI entry points.
void set_last_error(const std::string& message);

}  // namespace sumi::host
