// parity.inventory.v1.Inventory on the sync and callback server APIs, doing what each Query asks
// (inventory.proto), so that the parity suite can compare the pool with HTTP/2 on both.
#ifndef NOTNETS_TESTS_GRPC_PARITY_INVENTORY_SERVICES_H_
#define NOTNETS_TESTS_GRPC_PARITY_INVENTORY_SERVICES_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "inventory.grpc.pb.h"

namespace notnets::parity {

using ::parity::inventory::v1::Inventory;
using ::parity::inventory::v1::Item;
using ::parity::inventory::v1::Query;
using ::parity::inventory::v1::UploadSummary;

// An item that uses every kind of field, with a blob of `blob_bytes` bytes that depend on `sku`,
// so that a message cut or mixed up with another does not compare equal.
Item MakeItem(const std::string& sku, uint32_t blob_bytes);

// What the handlers saw, read by the tests.
struct Observations {
  // Calls whose handler saw their cancellation (IsCancelled, OnCancel).
  std::atomic<int> cancellations_seen{0};
  // Calls now waiting for their cancellation.
  std::atomic<int> waiting{0};

  // Get calls held now (Query::hold).
  int Held();
  // Holds a call until ReleaseHeld: runs `finish` then, or, when it is empty, blocks until then.
  void Hold(std::function<void()> finish);
  // Lets every held call, and every one held later, go on.
  void ReleaseHeld();

 private:
  std::mutex mutex_;
  std::condition_variable released_changed_;
  int held_ = 0;
  bool released_ = false;
  std::vector<std::function<void()>> finishers_;
};

// Inventory::Service.
class SyncInventory final : public Inventory::Service {
 public:
  explicit SyncInventory(Observations* observations) : observations_(observations) {}
  ::grpc::Status Get(::grpc::ServerContext* context, const Query* query, Item* item) override;
  ::grpc::Status Ping(::grpc::ServerContext* context, const ::google::protobuf::Empty* request,
                      ::google::protobuf::Empty* response) override;
  ::grpc::Status List(::grpc::ServerContext* context, const Query* query,
                      ::grpc::ServerWriter<Item>* writer) override;
  ::grpc::Status Upload(::grpc::ServerContext* context, ::grpc::ServerReader<Item>* reader,
                        UploadSummary* summary) override;
  ::grpc::Status Sync(::grpc::ServerContext* context,
                      ::grpc::ServerReaderWriter<Item, Item>* stream) override;
  ::grpc::Status Heartbeats(::grpc::ServerContext* context,
                            const ::google::protobuf::Empty* request,
                            ::grpc::ServerWriter<::google::protobuf::Empty>* writer) override;

 private:
  Observations* const observations_;
};

// Inventory::CallbackService.
class CallbackInventory final : public Inventory::CallbackService {
 public:
  explicit CallbackInventory(Observations* observations) : observations_(observations) {}
  ::grpc::ServerUnaryReactor* Get(::grpc::CallbackServerContext* context, const Query* query,
                                  Item* item) override;
  ::grpc::ServerUnaryReactor* Ping(::grpc::CallbackServerContext* context,
                                   const ::google::protobuf::Empty* request,
                                   ::google::protobuf::Empty* response) override;
  ::grpc::ServerWriteReactor<Item>* List(::grpc::CallbackServerContext* context,
                                         const Query* query) override;
  ::grpc::ServerReadReactor<Item>* Upload(::grpc::CallbackServerContext* context,
                                          UploadSummary* summary) override;
  ::grpc::ServerBidiReactor<Item, Item>* Sync(::grpc::CallbackServerContext* context) override;
  ::grpc::ServerWriteReactor<::google::protobuf::Empty>* Heartbeats(
      ::grpc::CallbackServerContext* context, const ::google::protobuf::Empty* request) override;

 private:
  Observations* const observations_;
};

}  // namespace notnets::parity

#endif  // NOTNETS_TESTS_GRPC_PARITY_INVENTORY_SERVICES_H_
