// host_fiber.h: minimal stackful fibers for running a block's threads on one worker thread.
// A switch saves and restores only the callee-saved registers and the FP control words: no system
// call, unlike glibc's swapcontext (which changes the signal mask and costs ~220 ns).
#pragma once
#include <cstddef>

namespace sumi::host {

// Entry of a new fiber; it must never return (it switches away for good when its work is done).
using FiberEntry = void (*)(void* arg);

struct FiberContext {
    void* sp = nullptr;       // saved stack pointer (x86-64) or ucontext (other architectures)
};

// Prepares `ctx` to start `entry(arg)` on the stack [stack, stack + size).
void fiber_init(FiberContext* ctx, char* stack, std::size_t size, FiberEntry entry, void* arg);

// Saves the running context into `from` and resumes `to`.
void fiber_switch(FiberContext* from, FiberContext* to);

// A stack of `size` bytes with an inaccessible guard page below it, or nullptr.
char* fiber_stack_allocate(std::size_t size);
void fiber_stack_free(char* stack, std::size_t size);

}  // namespace sumi::host
