// A case whose server and clients share a notnets pool that the parent creates for the run.
#ifndef NOTNETS_BENCH_POOL_CASE_H_
#define NOTNETS_BENCH_POOL_CASE_H_

#include <memory>
#include <string>
#include <vector>

#include "case.h"
#include "emergency.h"
#include "notnets/pool.h"

namespace notnets::bench {

class PoolCase : public Case {
 public:
  // The pool Setup creates keeps caches coherent or not as `coherence` says.
  explicit PoolCase(CoherenceMode coherence = CoherenceMode::kCoherent) : coherence_(coherence) {}
  ~PoolCase() override {
    if (created_ != nullptr) Pool::Remove(created_->path());
  }

  // Creates the pool; server and clients get its path as their only argument.
  Status Setup(const CaseOptions& options, std::vector<std::string>* server_args) override {
    PoolOptions pool_options;
    pool_options.coherence = coherence_;
    if (options.pool_bytes != 0) pool_options.size_bytes = options.pool_bytes;
    Status status = Pool::Create(options.pool_name, pool_options, &created_);
    if (!status.ok()) return status;
    remove_on_emergency_ = std::make_unique<EmergencyUnlink>(created_->path());
    server_args->push_back(created_->path());
    return Status::OK;
  }

 private:
  const CoherenceMode coherence_;
  std::shared_ptr<Pool> created_;  // parent: the pool Setup created
  std::unique_ptr<EmergencyUnlink> remove_on_emergency_;
};

}  // namespace notnets::bench

#endif  // NOTNETS_BENCH_POOL_CASE_H_
