// host_registry.h: how each generated host translation unit registers its kernels (see
// native/gen/KernelScan.java). Launchers are deduced from each kernel's own signature here, so no
// list of kernels or parameters is kept by hand.
#pragma once
#include <cstdint>
#include <tuple>
#include <type_traits>
#include <utility>

#include "cuda_host.h"

namespace sumi::host {

using Invoker = void (*)(void** args);     // runs the kernel once, for the current threadIdx
using PlainBlock = void (*)(void** args);  // runs every thread of the current block, in order

constexpr int kMaxKernelArgs = 32;

struct KernelEntry {
    const char* name;
    Invoker invoke;          // calls the kernel with *args[i] as parameter i (fibers)
    PlainBlock run_plain;    // the whole block as one loop (kernels without barriers)
    int arity;
    int64_t arg_sizes[kMaxKernelArgs];
    bool cooperative;        // uses barriers or warp primitives: its threads must run as fibers
};

void register_kernel(const KernelEntry& entry);

template <auto Kernel>
struct Launcher;

template <class... A, void (*Kernel)(A...)>
struct Launcher<Kernel> {
    template <std::size_t... I>
    static void call(void** args, std::index_sequence<I...>) {
        Kernel(*static_cast<std::remove_cv_t<A>*>(args[I])...);
    }
    static void invoke(void** args) { call(args, std::index_sequence_for<A...>{}); }

    // The arguments are unpacked once per block and Kernel is a constant, so the compiler can inline
    // the kernel body into the thread loop: a barrier-free kernel costs a few cycles per thread.
    template <std::size_t... I>
    static void block(void** args, std::index_sequence<I...>) {
        std::tuple<std::remove_cv_t<A>...> values{*static_cast<std::remove_cv_t<A>*>(args[I])...};
        const uint3 b = blockDim;
        for (unsigned z = 0; z < b.z; z++)
            for (unsigned y = 0; y < b.y; y++)
                for (unsigned x = 0; x < b.x; x++) {
                    threadIdx = uint3{x, y, z};
                    Kernel(std::get<I>(values)...);
                }
    }
    static void run_plain(void** args) { block(args, std::index_sequence_for<A...>{}); }

    static KernelEntry entry(const char* name, bool cooperative) {
        static_assert(sizeof...(A) <= kMaxKernelArgs, "too many kernel parameters");
        KernelEntry e{name, &invoke, &run_plain, static_cast<int>(sizeof...(A)), {}, cooperative};
        int i = 0;
        ((e.arg_sizes[i++] = static_cast<int64_t>(sizeof(A))), ...);
        return e;
    }
};

struct Registrar {
    explicit Registrar(const KernelEntry& e) { register_kernel(e); }
};

template <auto Kernel>
Registrar registrar(const char* name, bool cooperative) {
    return Registrar(Launcher<Kernel>::entry(name, cooperative));
}

}  // namespace sumi::host
