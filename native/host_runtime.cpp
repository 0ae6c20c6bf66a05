// host_runtime.cpp: runs kernels of cuda-kernels/ on the CPU (see cuda_host.h).
//
// A launch spreads its blocks over the worker pool (host_pool.cpp). A block of a kernel that never
// synchronises runs its threads as a plain loop. A block of a cooperative kernel (KernelScan found
// __syncthreads or a warp primitive in its call graph) runs each thread as a fiber: the scheduler
// resumes every runnable fiber in thread order; a fiber runs until it reaches a barrier or exits;
// then a warp whose live lanes all wait at a warp barrier is released, or, when every live thread
// waits at __syncthreads, the whole block is. Anything else is a divergent barrier and an error.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "cuda_host.h"
#include "host_fiber.h"
#include "host_pool.h"
#include "host_registry.h"
#include "sumi_host.h"

__thread uint3 threadIdx;
__thread uint3 blockIdx;
__thread uint3 blockDim;
__thread uint3 gridDim;

namespace sumi::host {

// ---- registry ----------------------------------------------------------------------------------
namespace {
std::vector<KernelEntry>& registry() {
    static std::vector<KernelEntry> entries;
    return entries;
}
std::once_flag sorted_once;
const std::vector<KernelEntry>& kernels() {
    std::call_once(sorted_once, [] {
        auto& e = registry();
        std::sort(e.begin(), e.end(), [](const KernelEntry& a, const KernelEntry& b) { return std::strcmp(a.name, b.name) < 0; });
    });
    return registry();
}
}  // namespace

void register_kernel(const KernelEntry& entry) { registry().push_back(entry); }

// ---- per-worker block state ----------------------------------------------------------------------
namespace {

enum class FiberState : uint8_t { Ready, AtWarpBarrier, AtBlockBarrier, Done };

struct PlainModeBarrier : std::runtime_error {
    using std::runtime_error::runtime_error;
};

std::size_t fiber_stack_size() {
    static const std::size_t size = [] {
        std::size_t kb = 256;
        if (const char* env = std::getenv("SUMI_HOST_FIBER_STACK_KB")) kb = std::max<long>(16, std::atol(env));
        return kb * 1024;
    }();
    return size;
}

// Everything a worker thread needs to run one block; reused from block to block.
struct BlockRunner {
    const KernelEntry* kernel = nullptr;
    void** args = nullptr;
    unsigned threads = 0;                 // blockDim.x * y * z
    bool fibers = false;                  // false: plain loop mode
    unsigned current = 0;                 // linear index of the running thread
    std::vector<uint3> thread_index;      // per thread
    std::vector<FiberState> state;        // per thread
    std::vector<FiberContext> context;    // per thread
    std::vector<char*> stacks;            // grown on demand, kept for later blocks
    std::vector<uint64_t> slots;          // two arrays of 32 per warp, used alternately
    std::vector<uint8_t> exchange_parity; // per thread: which of its warp's two arrays is next
    FiberContext scheduler;
    std::exception_ptr error;
    std::vector<unsigned char> shared;    // dynamic shared memory

    ~BlockRunner() {
        for (char* s : stacks) fiber_stack_free(s, fiber_stack_size());
    }

    void prepare(const KernelEntry* k, void** a, uint32_t shared_bytes) {
        kernel = k;
        args = a;
        threads = blockDim.x * blockDim.y * blockDim.z;
        fibers = k->cooperative && threads > 1;
        if (shared.size() < shared_bytes) shared.resize(shared_bytes);
        // A barrier-free kernel runs as run_plain's loop, which sets threadIdx itself and never reaches
        // the warp primitives: the per-thread tables below would cost more than its block's work
        // (elementwise blocks of 256 threads take ~100 ns).
        if (!k->cooperative) return;
        if (thread_index.size() < threads) {
            thread_index.resize(threads);
            state.resize(threads);
            context.resize(threads);
        }
        unsigned t = 0;
        for (unsigned z = 0; z < blockDim.z; z++)
            for (unsigned y = 0; y < blockDim.y; y++)
                for (unsigned x = 0; x < blockDim.x; x++) thread_index[t++] = uint3{x, y, z};
        slots.assign(((threads + 31) / 32) * 64, 0);
        exchange_parity.assign(threads, 0);
    }

    void run_block() {
        if (!fibers) {
            current = 0;
            kernel->run_plain(args);
            return;
        }
        run_fibers();
    }

    static void fiber_main(void* arg) {
        auto* self = static_cast<BlockRunner*>(arg);
        try {
            self->kernel->invoke(self->args);
        } catch (...) {
            if (!self->error) self->error = std::current_exception();
        }
        self->state[self->current] = FiberState::Done;
        fiber_switch(&self->context[self->current], &self->scheduler);
        std::abort();  // a finished fiber is never resumed
    }

    void run_fibers() {
        while (stacks.size() < threads) {
            char* s = fiber_stack_allocate(fiber_stack_size());
            if (!s) throw std::runtime_error("cannot allocate fiber stacks for a block of " + std::to_string(threads) + " threads");
            stacks.push_back(s);
        }
        for (unsigned t = 0; t < threads; t++) {
            state[t] = FiberState::Ready;
            // Stagger each stack's top by a different multiple of 16 bytes within a page: stacks are
            // 256 KiB apart, and identical offsets would put every fiber's hot frames in the same
            // cache sets (measured: 3x slower block scheduling without this).
            std::size_t color = (static_cast<std::size_t>(t) * 208) % 4096;
            fiber_init(&context[t], stacks[t], fiber_stack_size() - color, &BlockRunner::fiber_main, this);
        }
        error = nullptr;
        for (;;) {
            for (unsigned t = 0; t < threads; t++) {
                if (state[t] != FiberState::Ready) continue;
                current = t;
                threadIdx = thread_index[t];
                fiber_switch(&scheduler, &context[t]);
                if (error) std::rethrow_exception(error);  // abandon the block: its fibers are reset next time
            }
            if (!release_waiting()) return;
        }
    }

    // Makes the next group of waiting threads runnable; false when every thread is done.
    bool release_waiting() {
        unsigned done = 0, at_block = 0, at_warp = 0;
        for (unsigned t = 0; t < threads; t++) {
            switch (state[t]) {
                case FiberState::Done: done++; break;
                case FiberState::AtBlockBarrier: at_block++; break;
                case FiberState::AtWarpBarrier: at_warp++; break;
                case FiberState::Ready: break;
            }
        }
        if (done == threads) return false;
        bool released = false;
        for (unsigned w = 0; w * 32 < threads; w++) {
            unsigned end = std::min(threads, (w + 1) * 32);
            bool waiting = false, all = true;
            for (unsigned t = w * 32; t < end; t++) {
                if (state[t] == FiberState::AtWarpBarrier) waiting = true;
                else if (state[t] != FiberState::Done) all = false;
            }
            if (waiting && all) {
                for (unsigned t = w * 32; t < end; t++)
                    if (state[t] == FiberState::AtWarpBarrier) state[t] = FiberState::Ready;
                released = true;
            }
        }
        if (released) return true;
        if (at_warp == 0 && at_block > 0) {
            for (unsigned t = 0; t < threads; t++)
                if (state[t] == FiberState::AtBlockBarrier) state[t] = FiberState::Ready;
            return true;
        }
        throw std::runtime_error("divergent barrier: " + std::to_string(at_block) + " threads wait at __syncthreads while "
                                 + std::to_string(at_warp) + " wait at a warp barrier of a warp whose other lanes are elsewhere");
    }

    void wait(FiberState why) {
        if (!fibers) {
            if (threads <= 1) return;
            throw PlainModeBarrier("reached a barrier but the build classified it as barrier-free "
                                   "(a bug in native/gen/KernelScan.java's call-graph scan)");
        }
        state[current] = why;
        fiber_switch(&context[current], &scheduler);
    }
};

// read on every barrier and shuffle (see cuda_host.h for why no TLS model is forced)
__thread BlockRunner* tl_runner = nullptr;

BlockRunner& runner() {
    thread_local std::unique_ptr<BlockRunner> r;
    if (!r) r = std::make_unique<BlockRunner>();
    tl_runner = r.get();
    return *r;
}

}  // namespace

void block_barrier() { tl_runner->wait(FiberState::AtBlockBarrier); }
void warp_barrier() { tl_runner->wait(FiberState::AtWarpBarrier); }
uint64_t* warp_exchange_slots() {
    BlockRunner& r = *tl_runner;
    uint8_t& parity = r.exchange_parity[r.current];
    uint64_t* slots = r.slots.data() + 2 * (r.current & ~31u) + 32u * parity;
    parity ^= 1u;
    return slots;
}
unsigned lane_id() { return tl_runner->current & 31u; }
unsigned warp_lanes() { return std::min(32u, tl_runner->threads - (tl_runner->current & ~31u)); }
unsigned active_lane_mask() {
    BlockRunner& r = *tl_runner;
    unsigned base = r.current & ~31u, mask = 0;
    for (unsigned i = 0; i < warp_lanes(); i++)
        if (!r.fibers || r.state[base + i] != FiberState::Done) mask |= 1u << i;
    return mask;
}
void* dynamic_shared() { return tl_runner->shared.data(); }

}  // namespace sumi::host

// ---- C ABI ---------------------------------------------------------------------------------------
using namespace sumi::host;

extern "C" int32_t sumi_host_kernel_count(void) { return static_cast<int32_t>(kernels().size()); }

extern "C" const char* sumi_host_kernel_name(int32_t index) {
    return index >= 0 && index < sumi_host_kernel_count() ? kernels()[index].name : nullptr;
}

extern "C" int32_t sumi_host_kernel_arity(int32_t index) {
    return index >= 0 && index < sumi_host_kernel_count() ? kernels()[index].arity : -1;
}

extern "C" int64_t sumi_host_kernel_arg_size(int32_t index, int32_t arg) {
    if (index < 0 || index >= sumi_host_kernel_count() || arg < 0 || arg >= kernels()[index].arity) return -1;
    return kernels()[index].arg_sizes[arg];
}

extern "C" int32_t sumi_host_kernel_cooperative(int32_t index) {
    return index >= 0 && index < sumi_host_kernel_count() && kernels()[index].cooperative ? 1 : 0;
}

extern "C" int32_t sumi_host_launch(int32_t index, const uint32_t grid[3], const uint32_t block[3],
                                    uint32_t shared_bytes, void** args) {
    if (index < 0 || index >= sumi_host_kernel_count()) {
        set_last_error("no host kernel with index " + std::to_string(index));
        return 1;
    }
    const KernelEntry* k = &kernels()[index];
    uint64_t threads = static_cast<uint64_t>(block[0]) * block[1] * block[2];
    if (threads == 0 || threads > 1024 || grid[0] == 0 || grid[1] == 0 || grid[2] == 0 || grid[1] > 65535 || grid[2] > 65535) {
        set_last_error(std::string("kernel ") + k->name + ": launch extents out of range");
        return 1;
    }
    const dim3 g(grid[0], grid[1], grid[2]), b(block[0], block[1], block[2]);
    const int64_t blocks = static_cast<int64_t>(g.x) * g.y * g.z;
    try {
        parallel_for(blocks, [&](int64_t linear) {
            gridDim = uint3{g.x, g.y, g.z};
            blockDim = uint3{b.x, b.y, b.z};
            blockIdx = uint3{static_cast<unsigned>(linear % g.x), static_cast<unsigned>((linear / g.x) % g.y),
                             static_cast<unsigned>(linear / (static_cast<int64_t>(g.x) * g.y))};
            BlockRunner& r = runner();
            r.prepare(k, args, shared_bytes);
            r.run_block();
        });
    } catch (const std::exception& e) {
        set_last_error(std::string("kernel ") + k->name + ": " + e.what());
        return 2;
    } catch (...) {
        set_last_error(std::string("kernel ") + k->name + ": unknown failure");
        return 2;
    }
    return 0;
}

extern "C" const char* sumi_host_build_info(void) {
    static const std::string info = std::string("g++ ") + __VERSION__ + ", C++" + std::to_string(__cplusplus / 100 % 100)
#if defined(__x86_64__)
        + ", x86-64 fibers"
#else
        + ", ucontext fibers"
#endif
        ;
    return info.c_str();
}
