// host_pool.cpp: a fixed pool of worker threads for parallel_for (see host_pool.h).
#include "host_pool.h"
#include "sumi_host.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <memory>
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
        auto job = std::make_shared<Job>(&body, n);
        {
            // under the mutex, so that a worker about to sleep cannot miss the new generation
            std::lock_guard<std::mutex> lock(mutex_);
            job_ = job;
            generation_.fetch_add(1, std::memory_order_release);
        }
        if (sleepers_.load(std::memory_order_acquire) > 0) wake_.notify_all();
        work(*job);
        // Wait for the indices other threads claimed, not for every worker to check in: on a loaded
        // machine a worker the OS has not scheduled yet would otherwise hold up a small launch for a
        // whole time slice (milliseconds) although the caller ran every index itself.
        auto finished = [&] { return job->completed.load(std::memory_order_acquire) == n; };
        if (!spin_until(finished)) {
            std::unique_lock<std::mutex> lock(mutex_);
            done_.wait(lock, finished);
        }
        if (job->error) std::rethrow_exception(job->error);
    }

  private:
    static constexpr int kSpinIterations = 20000;  // ~50 us of pause instructions

    // One parallel_for. A worker that arrives after every index was claimed finds nothing to do and
    // never calls body, so the caller may return (and body die) while such a worker still holds it.
    struct Job {
        Job(const std::function<void(int64_t)>* b, int64_t n) : body(b), count(n) {}
        const std::function<void(int64_t)>* body;
        const int64_t count;
        std::atomic<int64_t> next{0};
        std::atomic<int64_t> completed{0};
        std::mutex error_mutex;
        std::exception_ptr error;
    };

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

    void work(Job& job) {
        tl_inside_job = true;
        for (;;) {
            int64_t i = job.next.fetch_add(1, std::memory_order_relaxed);
            if (i >= job.count) break;
            try {
                (*job.body)(i);
            } catch (...) {
                std::lock_guard<std::mutex> lock(job.error_mutex);
                if (!job.error) job.error = std::current_exception();
            }
            if (job.completed.fetch_add(1, std::memory_order_acq_rel) + 1 == job.count) {
                std::lock_guard<std::mutex> lock(mutex_);  // the caller may be about to sleep on done_
                done_.notify_all();
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
            std::shared_ptr<Job> job;
            {
                std::lock_guard<std::mutex> lock(mutex_);
                seen = generation_.load(std::memory_order_acquire);
                job = job_;
            }
            if (job) work(*job);
        }
    }

    int threads_ = 1;
    std::vector<std::thread> workers_;
    std::mutex launch_mutex_;  // one parallel_for at a time
    std::mutex mutex_;         // guards sleeping, waking and job_
    std::condition_variable wake_, done_;
    std::atomic<bool> stopping_{false};
    std::atomic<uint64_t> generation_{0};
    std::atomic<int> sleepers_{0};
    std::shared_ptr<Job> job_;  // the latest parallel_for's
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
