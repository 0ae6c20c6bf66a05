// host_pool.cpp: a fixed pool of worker threads for parallel_for (see host_pool.h).
#include "host_pool.h"
#include "sumi_host.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace sumi::host {
namespace {

thread_local bool tl_inside_job = false;
thread_local std::string tl_last_error;

// Workers spin for a short while after each job before they sleep: a kernel launch that finds them
// spinning starts in well under a microsecond instead of the 20-50 us a condition-variable wake-up
// costs, which dominates small launches (measured: a 64^3 GEMM on two threads fell from 51 to 6.5
// GFLOP/s with sleeping workers). The caller waits for the job's end the same way.
class Pool {
  public:
    Pool() {
        int n = static_cast<int>(std::thread::hardware_concurrency());
        if (const char* env = std::getenv("SUMI_HOST_THREADS")) {
            int v = std::atoi(env);
            if (v > 0) n = v;
        }
        n = std::clamp(n, 1, 256);
        threads_ = n;
        for (int i = 0; i < n - 1; i++) workers_.emplace_back([this] { worker_loop(); });
    }

    ~Pool() {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            stopping_.store(true);
        }
        wake_.notify_all();
        for (auto& t : workers_) t.join();
    }

    int threads() const { return threads_; }

    void run(int64_t n, const std::function<void(int64_t)>& body) {
        if (n <= 0) return;
        if (tl_inside_job || n == 1 || workers_.empty()) {
            for (int64_t i = 0; i < n; i++) body(i);
            return;
        }
        std::lock_guard<std::mutex> serial(launch_mutex_);
        body_ = &body;
        count_ = n;
        next_.store(0, std::memory_order_relaxed);
        error_ = nullptr;
        busy_.store(static_cast<int>(workers_.size()), std::memory_order_relaxed);
        {
            // under the mutex, so that a worker about to sleep cannot miss the new generation
            std::lock_guard<std::mutex> lock(mutex_);
            generation_.fetch_add(1, std::memory_order_release);
        }
        if (sleepers_.load(std::memory_order_acquire) > 0) wake_.notify_all();
        work();
        if (!spin_until([this] { return busy_.load(std::memory_order_acquire) == 0; })) {
            std::unique_lock<std::mutex> lock(mutex_);
            done_.wait(lock, [this] { return busy_.load(std::memory_order_acquire) == 0; });
        }
        body_ = nullptr;
        if (error_) std::rethrow_exception(error_);
    }

  private:
    static constexpr int kSpinIterations = 20000;  // ~50 us of pause instructions

    template <class Ready>
    static bool spin_until(Ready ready) {
        for (int i = 0; i < kSpinIterations; i++) {
            if (ready()) return true;
#if defined(__x86_64__) || defined(__i386__)
            __builtin_ia32_pause();
#endif
        }
        return ready();
    }

    void work() {
        tl_inside_job = true;
        for (;;) {
            int64_t i = next_.fetch_add(1, std::memory_order_relaxed);
            if (i >= count_) break;
            try {
                (*body_)(i);
            } catch (...) {
                std::lock_guard<std::mutex> lock(error_mutex_);
                if (!error_) error_ = std::current_exception();
            }
        }
        tl_inside_job = false;
    }

    void worker_loop() {
        uint64_t seen = 0;
        for (;;) {
            auto fresh = [&] { return stopping_.load(std::memory_order_acquire) || generation_.load(std::memory_order_acquire) != seen; };
            if (!spin_until(fresh)) {
                std::unique_lock<std::mutex> lock(mutex_);
                sleepers_.fetch_add(1, std::memory_order_acq_rel);
                wake_.wait(lock, fresh);
                sleepers_.fetch_sub(1, std::memory_order_acq_rel);
            }
            if (stopping_.load(std::memory_order_acquire)) return;
            seen = generation_.load(std::memory_order_acquire);
            work();
            if (busy_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
                std::lock_guard<std::mutex> lock(mutex_);
                done_.notify_all();
            }
        }
    }

    int threads_ = 1;
    std::vector<std::thread> workers_;
    std::mutex launch_mutex_;  // one parallel_for at a time
    std::mutex mutex_;         // guards sleeping and waking
    std::mutex error_mutex_;
    std::condition_variable wake_, done_;
    std::atomic<bool> stopping_{false};
    std::atomic<uint64_t> generation_{0};
    std::atomic<int> sleepers_{0};
    std::atomic<int> busy_{0};
    const std::function<void(int64_t)>* body_ = nullptr;
    int64_t count_ = 0;
    std::atomic<int64_t> next_{0};
    std::exception_ptr error_;
};

Pool& pool() {
    static Pool p;
    return p;
}

}  // namespace

int thread_count() { return pool().threads(); }

void parallel_for(int64_t n, const std::function<void(int64_t)>& body) { pool().run(n, body); }

void set_last_error(const std::string& message) { tl_last_error = message; }

const char* last_error() { return tl_last_error.c_str(); }

}  // namespace sumi::host

extern "C" const char* sumi_host_last_error(void) { return sumi::host::last_error(); }
extern "C" int32_t sumi_host_threads(void) { return sumi::host::thread_count(); }
