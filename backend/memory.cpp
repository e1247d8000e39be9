#include "backend/memory.h"

#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>
#include <c10/core/impl/alloc_cpu.h>
#include <c10/util/Exception.h>

#include <atomic>
#include <mutex>
#include <unordered_map>

#ifdef TRAINWRECK_WITH_CUDA
#include <ATen/Context.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAGuard.h>
#endif

namespace tw {

namespace {

class BudgetCpuAllocator final : public c10::Allocator {
 public:
  explicit BudgetCpuAllocator(int64_t budget) : budget_(budget) {}

  c10::DataPtr allocate(size_t n) override {
    const int64_t size = static_cast<int64_t>(n);
    const int64_t now = current_.fetch_add(size) + size;
    if (budget_ > 0 && now > budget_) {
      current_.fetch_sub(size);
      TORCH_CHECK_WITH(OutOfMemoryError, false, "CPU out of memory: tried to allocate ", n >> 20, " MiB with ",
                       (now - size) >> 20, " MiB in use of a ", budget_ >> 20, " MiB cell budget");
    }
    void* p = n == 0 ? nullptr : c10::alloc_cpu(n);
    int64_t peak = peak_.load();
    while (now > peak && !peak_.compare_exchange_weak(peak, now)) {
    }
    if (p) {
      std::lock_guard<std::mutex> lock(mu_);
      sizes_[p] = size;
    } else {
      current_.fetch_sub(size);
    }
    return {p, p, &BudgetCpuAllocator::release, c10::Device(c10::DeviceType::CPU)};
  }

  c10::DeleterFnPtr raw_deleter() const override { return &BudgetCpuAllocator::release; }

  void copy_data(void* dest, const void* src, std::size_t count) const override { default_copy_data(dest, src, count); }

  static void release(void* p) {
    if (!p) return;
    BudgetCpuAllocator* self = instance();
    {
      std::lock_guard<std::mutex> lock(self->mu_);
      auto it = self->sizes_.find(p);
      if (it != self->sizes_.end()) {
        self->current_.fetch_sub(it->second);
        self->sizes_.erase(it);
      }
    }
    c10::free_cpu(p);
  }

  static BudgetCpuAllocator*& instance() {
    static BudgetCpuAllocator* the = nullptr;
    return the;
  }

  int64_t current() const { return current_.load(); }
  void set_budget(int64_t budget) { budget_ = budget; }
  int64_t peak() const { return peak_.load(); }

 private:
  std::atomic<int64_t> budget_;
  std::atomic<int64_t> current_{0};
  std::atomic<int64_t> peak_{0};
  std::mutex mu_;
  std::unordered_map<void*, int64_t> sizes_;
};

}  // namespace

namespace {
int64_t& cell_budget() {
  static int64_t budget = 0;
  return budget;
}
}  // namespace

int64_t cell_memory_budget_bytes() { return cell_budget(); }

void install_cpu_budget(int64_t budget_bytes) {
  cell_budget() = budget_bytes;
  auto*& the = BudgetCpuAllocator::instance();
  if (the) return;
  the = new BudgetCpuAllocator(budget_bytes);  // lives as long as the process: tensors outlive main
  c10::SetAllocator(c10::DeviceType::CPU, the, /*priority=*/100);
}

void set_cpu_budget(int64_t budget_bytes) {
  if (auto* a = BudgetCpuAllocator::instance()) a->set_budget(budget_bytes);
}

MemoryReading read_memory(c10::Device device) {
  MemoryReading r;
#ifdef TRAINWRECK_WITH_CUDA
  if (device.is_cuda()) {
    using namespace c10::CachingDeviceAllocator;
    // The caching allocator exists only once CUDA is initialized (lazily, by the first CUDA tensor).
    at::globalContext().lazyInitDevice(c10::DeviceType::CUDA);
    const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device.index() < 0 ? 0 : device.index());
    const auto agg = static_cast<size_t>(StatType::AGGREGATE);
    r.allocated = stats.allocated_bytes[agg].current;
    r.reserved = stats.reserved_bytes[agg].current;
    r.peak = stats.allocated_bytes[agg].peak;
    r.peak_reserved = stats.reserved_bytes[agg].peak;
    return r;
  }
#endif
  (void)device;
  if (auto* a = BudgetCpuAllocator::instance()) {
    r.allocated = r.reserved = a->current();
    r.peak = r.peak_reserved = a->peak();
  }
  return r;
}

namespace {
c10::Device& cell_device() {
  static c10::Device device(c10::DeviceType::CPU);
  return device;
}
}  // namespace

void set_cell_device(c10::Device device) { cell_device() = device; }
int64_t cell_memory_bytes() { return read_memory(cell_device()).allocated; }

void limit_cuda_memory(c10::Device device, int64_t budget_bytes) {
#ifdef TRAINWRECK_WITH_CUDA
  if (!device.is_cuda() || budget_bytes <= 0) return;
  size_t free_bytes = 0, total_bytes = 0;
  const auto index = device.index() < 0 ? 0 : device.index();
  // setMemoryFraction needs the caching allocator, which CUDA's lazy initialization creates.
  at::globalContext().lazyInitDevice(c10::DeviceType::CUDA);
  c10::cuda::CUDAGuard guard(index);
  C10_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
  const double fraction = std::min(1.0, static_cast<double>(budget_bytes) / static_cast<double>(total_bytes));
  c10::cuda::CUDACachingAllocator::setMemoryFraction(fraction, index);
#else
  (void)device;
  (void)budget_bytes;
#endif
}

void empty_cuda_cache() {
#ifdef TRAINWRECK_WITH_CUDA
  c10::cuda::CUDACachingAllocator::emptyCache();
#endif
}

}  // namespace tw
