// The threads of a server's workers: between a minimum and a maximum, added when every worker is
// busy and retired when idle, optionally pinned to CPUs. What a worker does is the caller's; this
// file only decides how many run and where.
#ifndef NOTNETS_RPC_WORKER_POOL_H_
#define NOTNETS_RPC_WORKER_POOL_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <thread>
#include <vector>

#include "notnets/status.h"
#include "rpc/mutex.h"

namespace notnets::internal {

// How many workers a server runs, and on which CPUs.
struct WorkerPolicy {
  // Workers that always run; 1..max_workers.
  uint32_t min_workers = 1;
  // Most workers at once; 1..1024. Equal to min_workers: a fixed number, and no counting per call.
  uint32_t max_workers = 1;
  // CPUs to pin workers to: worker i runs on cpus[i % cpus.size()] alone. Empty: not pinned.
  std::vector<int> cpus;
};

class WorkerPool {
 public:
  // How long a worker above the minimum finds no work before it leaves. Long against a call, so
  // that a load that pauses between bursts keeps its workers; short against a deploy.
  static constexpr std::chrono::milliseconds kIdleRetire{1000};

  // OK if `policy` can be run by this process: counts in range, CPUs it may run on.
  static Status Validate(const WorkerPolicy& policy);

  // Runs body(slot) on each worker, with slot in [0, max_workers) unique among running workers.
  // A body returns when the server stops or when TryRetire let it go.
  WorkerPool(WorkerPolicy policy, std::function<void(uint32_t slot)> body);
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;
  ~WorkerPool() { Stop(); }

  // Starts the minimum of workers.
  void Start() NOTNETS_EXCLUDES(mutex_);
  // Whether the number of workers follows the load (min < max); if not, the calls below that
  // count are not needed.
  bool scaling() const { return policy_.min_workers < policy_.max_workers; }
  // A worker starts running a handler. If no other worker is left idle to take the next call and
  // fewer than the maximum run, starts one: calls that arrive meanwhile find a worker, even when
  // every handler blocks until other calls run.
  void BeginCall() NOTNETS_EXCLUDES(mutex_);
  // The worker's handler returned.
  void EndCall() { busy_.fetch_sub(1, std::memory_order_relaxed); }
  // A worker in `slot` that found no work for kIdleRetire asks to leave: true (and its slot is
  // free for a later worker) if more than the minimum run; its body must then return at once,
  // holding nothing another worker could wait for.
  bool TryRetire(uint32_t slot) NOTNETS_EXCLUDES(mutex_);
  // Adds no more workers and waits until every body has returned (the caller makes them return);
  // running() is 0 afterwards.
  void Stop() NOTNETS_EXCLUDES(mutex_);

  // Workers running now (including one finishing its retirement), and the most that ever ran at
  // once: for tests and the benchmark.
  uint32_t running() const { return running_.load(std::memory_order_relaxed); }
  uint32_t peak() const { return peak_.load(std::memory_order_relaxed); }

 private:
  // Starts a worker in a free slot if fewer than the maximum run.
  void Add() NOTNETS_REQUIRES(mutex_);
  // The thread of the worker in `slot`: pins it, then runs the body.
  void Run(uint32_t slot);

  const WorkerPolicy policy_;
  const std::function<void(uint32_t slot)> body_;
  std::atomic<uint32_t> running_{0};
  std::atomic<uint32_t> busy_{0};
  std::atomic<uint32_t> peak_{0};
  Mutex mutex_;
  bool stopped_ NOTNETS_GUARDED_BY(mutex_) = false;
  // One per slot; a retired worker's thread stays here until its slot is reused or Stop joins it.
  std::vector<std::thread> threads_ NOTNETS_GUARDED_BY(mutex_);
  std::vector<bool> in_use_ NOTNETS_GUARDED_BY(mutex_);
};

}  // namespace notnets::internal

#endif  // NOTNETS_RPC_WORKER_POOL_H_
