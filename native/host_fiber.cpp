// host_fiber.cpp: context switch for host_fiber.h. x86-64 System V gets a hand-written switch;
// other architectures fall back to ucontext (correct, slower).
#include "host_fiber.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>

#if defined(__x86_64__) && !defined(_WIN32)

// sumi_fiber_swap(void** save_sp, void* load_sp): pushes rbp rbx r12-r15 on the current stack, stores
// rsp, loads the other stack and pops the same frame from it. The MXCSR and x87 control words are
// not switched: every fiber of a worker shares them and kernels never change rounding modes.
asm(R"(
    .text
    .globl sumi_fiber_swap
    .type sumi_fiber_swap, @function
sumi_fiber_swap:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size sumi_fiber_swap, .-sumi_fiber_swap

    .globl sumi_fiber_start
    .type sumi_fiber_start, @function
sumi_fiber_start:
    movq %r12, %rdi
    callq *%r13
    ud2
    .size sumi_fiber_start, .-sumi_fiber_start
)");

extern "C" void sumi_fiber_swap(void** save_sp, void* load_sp);
extern "C" void sumi_fiber_start();

namespace sumi::host {

void fiber_init(FiberContext* ctx, char* stack, std::size_t size, FiberEntry entry, void* arg) {
    // Frame popped by sumi_fiber_swap, lowest address first:
    //   [0] r15 [8] r14 [16] r13=entry [24] r12=arg [32] rbx [40] rbp [48] ret=sumi_fiber_start
    // After `ret`, rsp is 16-byte aligned, so the `call` in sumi_fiber_start enters `entry` aligned.
    uintptr_t top = (reinterpret_cast<uintptr_t>(stack) + size) & ~static_cast<uintptr_t>(15);
    uintptr_t after_ret = top - 16;
    auto* frame = reinterpret_cast<uint64_t*>(after_ret - 56);
    std::memset(frame, 0, 56);
    frame[2] = reinterpret_cast<uint64_t>(entry);
    frame[3] = reinterpret_cast<uint64_t>(arg);
    frame[6] = reinterpret_cast<uint64_t>(&sumi_fiber_start);
    ctx->sp = frame;
}

void fiber_switch(FiberContext* from, FiberContext* to) { sumi_fiber_swap(&from->sp, to->sp); }

}  // namespace sumi::host

#else  // portable fallback

#include <ucontext.h>
#include <new>

namespace sumi::host {

namespace {
struct Trampoline {
    FiberEntry entry;
    void* arg;
};
void start_thunk(unsigned hi, unsigned lo) {
    auto* t = reinterpret_cast<Trampoline*>((static_cast<uintptr_t>(hi) << 32) | lo);
    t->entry(t->arg);
}
}  // namespace

void fiber_init(FiberContext* ctx, char* stack, std::size_t size, FiberEntry entry, void* arg) {
    // the ucontext_t and the trampoline live at the bottom of the fiber's own stack
    auto* uc = reinterpret_cast<ucontext_t*>(stack);
    auto* t = reinterpret_cast<Trampoline*>(stack + sizeof(ucontext_t));
    t->entry = entry;
    t->arg = arg;
    std::size_t reserved = (sizeof(ucontext_t) + sizeof(Trampoline) + 63) & ~std::size_t(63);
    getcontext(uc);
    uc->uc_stack.ss_sp = stack + reserved;
    uc->uc_stack.ss_size = size - reserved;
    uc->uc_link = nullptr;
    uintptr_t p = reinterpret_cast<uintptr_t>(t);
    makecontext(uc, reinterpret_cast<void (*)()>(start_thunk), 2, static_cast<unsigned>(p >> 32), static_cast<unsigned>(p));
    ctx->sp = uc;
}

void fiber_switch(FiberContext* from, FiberContext* to) {
    thread_local ucontext_t scheduler;
    if (from->sp == nullptr) from->sp = &scheduler;
    swapcontext(static_cast<ucontext_t*>(from->sp), static_cast<ucontext_t*>(to->sp));
}

}  // namespace sumi::host

#endif

namespace sumi::host {

char* fiber_stack_allocate(std::size_t size) {
    long page = sysconf(_SC_PAGESIZE);
    void* p = mmap(nullptr, size + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) return nullptr;
    mprotect(p, page, PROT_NONE);  // a thread that overflows its stack faults here instead of corrupting its neighbour
    return static_cast<char*>(p) + page;
}

void fiber_stack_free(char* stack, std::size_t size) {
    long page = sysconf(_SC_PAGESIZE);
    munmap(stack - page, size + page);
}

}  // namespace sumi::host
