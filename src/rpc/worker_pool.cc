#include "rpc/worker_pool.h"

#include <string>
#include <utility>

#include "rpc/cpu_affinity.h"

namespace notnets::internal {

Status WorkerPool::Validate(const WorkerPolicy& policy) {
  if (policy.min_workers < 1 || policy.min_workers > 1024 || policy.max_workers > 1024) {
    return Status(StatusCode::INVALID_ARGUMENT, "worker threads must be in [1, 1024]");
  }
  if (policy.min_workers > policy.max_workers) {
    return Status(StatusCode::INVALID_ARGUMENT,
                  "the minimum of worker threads (" + std::to_string(policy.min_workers) +
                      ") exceeds the maximum (" + std::to_string(policy.max_workers) + ")");
  }
  return CheckCpus(policy.cpus, "worker");
}

WorkerPool::WorkerPool(WorkerPolicy policy, std::function<void(uint32_t slot)> body)
    : policy_(std::move(policy)), body_(std::move(body)) {
  MutexLock lock(&mutex_);
  threads_.resize(policy_.max_workers);
  in_use_.assign(policy_.max_workers, false);
}

void WorkerPool::Start() {
  MutexLock lock(&mutex_);
  for (uint32_t i = 0; i < policy_.min_workers; ++i) Add();
}

void WorkerPool::BeginCall() {
  uint32_t busy = busy_.fetch_add(1, std::memory_order_relaxed) + 1;
  // Read without the lock: a worker that retires meanwhile only makes the next call add one.
  if (busy < running_.load(std::memory_order_relaxed) ||
      running_.load(std::memory_order_relaxed) >= policy_.max_workers) {
    return;
  }
  MutexLock lock(&mutex_);
  if (busy_.load(std::memory_order_relaxed) >= running_.load(std::memory_order_relaxed)) Add();
}

bool WorkerPool::TryRetire(uint32_t slot) {
  MutexLock lock(&mutex_);
  if (stopped_ || running_.load(std::memory_order_relaxed) <= policy_.min_workers) return false;
  running_.fetch_sub(1, std::memory_order_relaxed);
  in_use_[slot] = false;
  return true;
}

void WorkerPool::Stop() {
  std::vector<std::thread> threads;
  {
    MutexLock lock(&mutex_);
    stopped_ = true;
    threads.swap(threads_);
  }
  for (std::thread& thread : threads) {
    if (thread.joinable()) thread.join();
  }
  running_.store(0, std::memory_order_relaxed);
}

void WorkerPool::Add() {
  if (stopped_ || running_.load(std::memory_order_relaxed) >= policy_.max_workers) return;
  uint32_t slot = 0;
  while (slot < policy_.max_workers && in_use_[slot]) ++slot;
  if (slot == policy_.max_workers) return;
  // A retired worker's thread has returned from its body or is about to: joining is brief.
  if (threads_[slot].joinable()) threads_[slot].join();
  in_use_[slot] = true;
  uint32_t running = running_.fetch_add(1, std::memory_order_relaxed) + 1;
  if (running > peak_.load(std::memory_order_relaxed)) {
    peak_.store(running, std::memory_order_relaxed);
  }
  threads_[slot] = std::thread([this, slot] { Run(slot); });
}

void WorkerPool::Run(uint32_t slot) {
  if (!policy_.cpus.empty()) PinCallingThread({policy_.cpus[slot % policy_.cpus.size()]});
  body_(slot);
}

}  // namespace notnets::internal
