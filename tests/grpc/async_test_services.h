// The test service on the completion-queue server API: every method async, or only Echo async
// beside synchronous streaming methods (a mixed service). Their handlers behave as those of
// test_services.h, driven by one thread polling a completion queue of the server.
#ifndef NOTNETS_TESTS_GRPC_ASYNC_TEST_SERVICES_H_
#define NOTNETS_TESTS_GRPC_ASYNC_TEST_SERVICES_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <mutex>
#include <thread>

#include "test_service.grpc.pb.h"
#include "test_services.h"

namespace notnets::test {

// What a completion-queue service needs around the server's life.
class CompletionQueueServing {
 public:
  virtual ~CompletionQueueServing();
  // Before BuildAndStart: adds the completion queue to `builder`.
  void AddTo(::grpc::ServerBuilder* builder);
  // After BuildAndStart: requests the first calls and starts polling.
  void Run();
  // After the server's Shutdown: drains the queue and stops polling.
  void Stop();

 protected:
  // Requests one call of each async method, each handled on the queue. A call whose tag comes
  // once `*stopping` holds starts no operation: the queue is shut down.
  virtual void RequestCalls(::grpc::ServerCompletionQueue* queue, const bool* stopping) = 0;

 private:
  std::unique_ptr<::grpc::ServerCompletionQueue> queue_;
  std::thread poller_;
  // Held while a tag is handled, so that Stop's shutdown of the queue comes between two.
  std::mutex mutex_;
  bool stopping_ = false;
};

// Every method on the completion-queue API (TestService::AsyncService).
class AsyncTestService final : public TestService::AsyncService, public CompletionQueueServing {
 public:
  explicit AsyncTestService(ServerObservations* observations) : observations_(observations) {}

 private:
  void RequestCalls(::grpc::ServerCompletionQueue* queue, const bool* stopping) override;
  ServerObservations* const observations_;
};

// Echo on the completion-queue API, the other methods synchronous.
class MixedTestService final : public TestService::WithAsyncMethod_Echo<SyncTestService>,
                               public CompletionQueueServing {
 public:
  explicit MixedTestService(ServerObservations* observations) { set_observations(observations); }

 private:
  void RequestCalls(::grpc::ServerCompletionQueue* queue, const bool* stopping) override;
};

}  // namespace notnets::test

#endif  // NOTNETS_TESTS_GRPC_ASYNC_TEST_SERVICES_H_
