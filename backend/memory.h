#pragma once
// Memory the cell can see: a budgeted CPU allocator (so a CPU cell gets a clean, catchable
// c10::OutOfMemoryError like CUDA's instead of the kernel's OOM killer) and the CUDA caching
// allocator's statistics.
#include <c10/core/Device.h>

#include <cstdint>

namespace tw {

// Every CPU tensor allocation is counted from here on; one that would exceed `budget_bytes`
// (0: no budget) throws c10::OutOfMemoryError.
void install_cpu_budget(int64_t budget_bytes);
// Changes the installed budget (e.g. a tighter one for a serving phase); no-op without one.
void set_cpu_budget(int64_t budget_bytes);

struct MemoryReading {
  int64_t allocated = 0;  // bytes in live tensors
  int64_t reserved = 0;   // bytes held by the allocator (CUDA), = allocated on the CPU
  int64_t peak = 0;       // high-water mark of allocated
  int64_t peak_reserved = 0;  // high-water mark of reserved
};

MemoryReading read_memory(c10::Device device);

// The running cell's device, its allocated bytes (what the leak guard watches) and its memory
// budget (what the leak guard projects against; 0 before install_cpu_budget).
void set_cell_device(c10::Device device);
int64_t cell_memory_bytes();
int64_t cell_memory_budget_bytes();

// CUDA: caps this process's share of the device (per-cell memory fraction).
void limit_cuda_memory(c10::Device device, int64_t budget_bytes);
void empty_cuda_cache();

}  // namespace tw
