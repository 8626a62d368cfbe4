#include "pool/cache_lines.h"

#include <atomic>
#include <cstdint>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <immintrin.h>
#endif

namespace notnets::internal {

namespace {

// Walks the lines, `line_bytes` long (a power of two), that [data, data+size) touches. A loop
// rather than a function taking a callback: a lambda would not inherit its caller's target
// attribute, which the x86 instructions need.
class Lines {
 public:
  Lines(const void* data, size_t size, uintptr_t line_bytes)
      : line_(reinterpret_cast<uintptr_t>(data) & ~(line_bytes - 1)),
        end_(reinterpret_cast<uintptr_t>(data) + size),
        line_bytes_(line_bytes) {}
  bool more() const { return line_ < end_; }
  void next() { line_ += line_bytes_; }
  void* at() const { return reinterpret_cast<void*>(line_); }

 private:
  uintptr_t line_;
  const uintptr_t end_;
  const uintptr_t line_bytes_;
};

#if defined(__x86_64__) || defined(__i386__)

constexpr uintptr_t kLineBytes = 64;

__attribute__((target("clwb"))) void WriteBackWithClwb(const void* data, size_t size) {
  for (Lines lines(data, size, kLineBytes); lines.more(); lines.next()) _mm_clwb(lines.at());
  _mm_sfence();
}

__attribute__((target("clflushopt"))) void WriteBackWithClflushopt(const void* data, size_t size) {
  for (Lines lines(data, size, kLineBytes); lines.more(); lines.next()) _mm_clflushopt(lines.at());
  _mm_sfence();
}

void WriteBackWithClflush(const void* data, size_t size) {
  for (Lines lines(data, size, kLineBytes); lines.more(); lines.next()) _mm_clflush(lines.at());
  _mm_sfence();
}

// clwb may leave the line cached, so only a flush invalidates. The mfence (not sfence) keeps the
// reads that follow from being served before the flush completes.
__attribute__((target("clflushopt"))) void InvalidateWithClflushopt(const void* data, size_t size) {
  for (Lines lines(data, size, kLineBytes); lines.more(); lines.next()) _mm_clflushopt(lines.at());
  _mm_mfence();
}

void InvalidateWithClflush(const void* data, size_t size) {
  for (Lines lines(data, size, kLineBytes); lines.more(); lines.next()) _mm_clflush(lines.at());
  _mm_mfence();
}

__attribute__((target("clflushopt"))) void DropWithClflushopt(const void* address) {
  _mm_clflushopt(const_cast<void*>(address));
}

void DropWithClflush(const void* address) { _mm_clflush(address); }

using LineFunction = void (*)(const void*, size_t);

struct Choice {
  LineFunction write_back;
  LineFunction invalidate;
  void (*drop)(const void*);
  const char* names;
};

// From CPUID leaf 7 (EBX bit 23 is CLFLUSHOPT, bit 24 CLWB) rather than __builtin_cpu_supports,
// which clang 14 does not know these features by.
Choice Choose() {
  unsigned int eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) == 0) ebx = 0;
  bool clflushopt = (ebx & (1u << 23)) != 0;
  bool clwb = (ebx & (1u << 24)) != 0;
  if (clwb) {
    if (clflushopt) {
      return {WriteBackWithClwb, InvalidateWithClflushopt, DropWithClflushopt, "clwb / clflushopt"};
    }
    return {WriteBackWithClwb, InvalidateWithClflush, DropWithClflush, "clwb / clflush"};
  }
  if (clflushopt) {
    return {WriteBackWithClflushopt, InvalidateWithClflushopt, DropWithClflushopt, "clflushopt"};
  }
  return {WriteBackWithClflush, InvalidateWithClflush, DropWithClflush, "clflush"};
}

const Choice& Chosen() {
  static const Choice choice = Choose();
  return choice;
}

}  // namespace

void WriteBackCacheLines(const void* data, size_t size) { Chosen().write_back(data, size); }
void InvalidateCacheLines(const void* data, size_t size) { Chosen().invalidate(data, size); }
void DropCacheLine(const void* address) { Chosen().drop(address); }
const char* CacheLineInstructions() { return Chosen().names; }

#elif defined(__aarch64__)

// The smallest data cache line of any cache this CPU has (CTR_EL0.DminLine, in words), which
// Linux lets user code read.
uintptr_t DataLineBytes() {
  static const uintptr_t bytes = [] {
    uint64_t ctr;
    asm volatile("mrs %0, ctr_el0" : "=r"(ctr));
    return uintptr_t{4} << ((ctr >> 16) & 0xf);
  }();
  return bytes;
}

}  // namespace

// `dsb sy` rather than `dsb ish`: the other reader may be a host outside this one's inner
// shareable domain.
void WriteBackCacheLines(const void* data, size_t size) {
  for (Lines lines(data, size, DataLineBytes()); lines.more(); lines.next()) {
    asm volatile("dc cvac, %0" : : "r"(lines.at()) : "memory");
  }
  asm volatile("dsb sy" : : : "memory");
}

void InvalidateCacheLines(const void* data, size_t size) {
  for (Lines lines(data, size, DataLineBytes()); lines.more(); lines.next()) {
    asm volatile("dc civac, %0" : : "r"(lines.at()) : "memory");
  }
  asm volatile("dsb sy" : : : "memory");
}

void DropCacheLine(const void* address) {
  asm volatile("dc civac, %0" : : "r"(address) : "memory");
}

const char* CacheLineInstructions() { return "dc cvac / dc civac"; }

#else

}  // namespace

void WriteBackCacheLines(const void*, size_t) {
  std::atomic_thread_fence(std::memory_order_seq_cst);
}
void InvalidateCacheLines(const void*, size_t) {
  std::atomic_thread_fence(std::memory_order_seq_cst);
}
void DropCacheLine(const void*) {}
const char* CacheLineInstructions() { return "fence only (coherent memory only)"; }

#endif

}  // namespace notnets::internal
