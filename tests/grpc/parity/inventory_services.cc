#include "inventory_services.h"

#include <chrono>
#include <mutex>
#include <string_view>
#include <thread>

namespace notnets::parity {
namespace {

using ::google::protobuf::Empty;
using ::grpc::Status;
using ::grpc::StatusCode;

// How long a handler waits for a cancellation that does not come, so that a path that never
// delivers one fails its test instead of hanging the server's shutdown.
constexpr std::chrono::seconds kMaxCancelWait{20};

// Sends the request metadata whose keys start with "x-" back, as initial and as trailing
// metadata, in the order they came.
void EchoMetadata(::grpc::ServerContextBase* context) {
  for (const auto& [key, value] : context->client_metadata()) {
    std::string k(key.data(), key.size());
    if (!k.starts_with("x-")) continue;
    std::string v(value.data(), value.size());
    context->AddInitialMetadata(k, v);
    context->AddTrailingMetadata(k, v);
  }
}

Status QueryStatus(const Query& query) {
  return Status(static_cast<StatusCode>(query.fail_code()), query.fail_message(),
                query.fail_details());
}

// Whether List writes item `i` with WriteLast.
bool IsLastWrite(const Query& query, uint32_t i) {
  return query.write_last() && i + 1 == query.count() && !query.wait_for_cancel() &&
         query.fail_code() == 0;
}

// The sync API has no cancellation callback: polls for it, as sync handlers do.
Status WaitForCancel(::grpc::ServerContext* context, Observations* observations) {
  ++observations->waiting;
  auto give_up = std::chrono::steady_clock::now() + kMaxCancelWait;
  while (!context->IsCancelled() && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  --observations->waiting;
  if (context->IsCancelled()) ++observations->cancellations_seen;
  return Status(StatusCode::CANCELLED, "the handler saw the cancellation");
}

// Get with wait_for_cancel on the callback API: finishes when told of the cancellation.
class CancelWaiter final : public ::grpc::ServerUnaryReactor {
 public:
  explicit CancelWaiter(Observations* observations) : observations_(observations) {
    ++observations_->waiting;
  }
  void OnCancel() override {
    --observations_->waiting;
    ++observations_->cancellations_seen;
    Finish(Status(StatusCode::CANCELLED, "the handler saw the cancellation"));
  }
  void OnDone() override { delete this; }

 private:
  Observations* const observations_;
};

// List on the callback API: one write in flight at a time.
class ListWriter final : public ::grpc::ServerWriteReactor<Item> {
 public:
  ListWriter(const Query& query, Observations* observations)
      : query_(query), observations_(observations) {
    std::lock_guard<std::mutex> lock(mu_);
    WriteNextLocked();
  }
  void OnWriteDone(bool ok) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (finished_) return;
    if (!ok) {
      Finish(Status(StatusCode::UNAVAILABLE, "the stream broke"));
      return;
    }
    ++next_;
    WriteNextLocked();
  }
  void OnCancel() override {
    ++observations_->cancellations_seen;
    std::lock_guard<std::mutex> lock(mu_);
    if (waiting_) {
      --observations_->waiting;
      Finish(Status(StatusCode::CANCELLED, "the handler saw the cancellation"));
    }
    cancelled_ = true;
  }
  void OnDone() override { delete this; }

 private:
  void WriteNextLocked() {
    if (query_.fail_code() != 0 && next_ == query_.fail_after()) {
      Finish(QueryStatus(query_));
      return;
    }
    if (next_ == query_.count()) {
      if (!query_.wait_for_cancel()) {
        Finish(Status::OK);
      } else if (cancelled_) {
        Finish(Status(StatusCode::CANCELLED, "the handler saw the cancellation"));
      } else {
        waiting_ = true;
        ++observations_->waiting;
      }
      return;
    }
    item_ = MakeItem(query_.sku() + "-" + std::to_string(next_), query_.blob_bytes());
    if (IsLastWrite(query_, next_)) {
      // gRPC holds a last write until the status goes with it: finish without waiting for it.
      StartWriteLast(&item_, ::grpc::WriteOptions());
      finished_ = true;
      Finish(Status::OK);
    } else {
      StartWrite(&item_);
    }
  }

  const Query query_;
  Observations* const observations_;
  std::mutex mu_;
  uint32_t next_ = 0;
  bool waiting_ = false;
  bool cancelled_ = false;
  bool finished_ = false;
  Item item_;
};

// Upload on the callback API.
class UploadReader final : public ::grpc::ServerReadReactor<Item> {
 public:
  explicit UploadReader(UploadSummary* summary) : summary_(summary) { StartRead(&item_); }
  void OnReadDone(bool ok) override {
    if (!ok) {
      Finish(Status::OK);
      return;
    }
    if (item_.sku() == "fail") {
      Finish(Status(StatusCode::INVALID_ARGUMENT, "bad item"));
      return;
    }
    summary_->set_count(summary_->count() + 1);
    summary_->set_blob_bytes(summary_->blob_bytes() + item_.blob().size());
    summary_->add_skus(item_.sku());
    StartRead(&item_);
  }
  void OnDone() override { delete this; }

 private:
  UploadSummary* const summary_;
  Item item_;
};

// Sync on the callback API: reads, answers, reads again.
class SyncReactor final : public ::grpc::ServerBidiReactor<Item, Item> {
 public:
  SyncReactor() { StartRead(&in_); }
  void OnReadDone(bool ok) override {
    if (!ok) {
      Finish(Status::OK);
      return;
    }
    if (in_.sku() == "fail") {
      Finish(Status(StatusCode::INVALID_ARGUMENT, "bad item"));
      return;
    }
    if (wrote_last_) {
      StartRead(&in_);
      return;
    }
    out_ = in_;
    out_.set_sku("re:" + in_.sku());
    if (in_.sku() == "last") {
      wrote_last_ = true;
      StartWriteLast(&out_, ::grpc::WriteOptions());
    } else {
      StartWrite(&out_);
    }
  }
  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(Status(StatusCode::UNAVAILABLE, "the stream broke"));
      return;
    }
    StartRead(&in_);
  }
  void OnDone() override { delete this; }

 private:
  Item in_;
  Item out_;
  bool wrote_last_ = false;
};

// Heartbeats on the callback API: three empty messages.
class HeartbeatWriter final : public ::grpc::ServerWriteReactor<Empty> {
 public:
  HeartbeatWriter() { StartWrite(&beat_); }
  void OnWriteDone(bool ok) override {
    if (!ok || ++written_ == kBeats) {
      Finish(ok ? Status::OK : Status(StatusCode::UNAVAILABLE, "the stream broke"));
      return;
    }
    StartWrite(&beat_);
  }
  void OnDone() override { delete this; }

 private:
  static constexpr int kBeats = 3;
  Empty beat_;
  int written_ = 0;
};

}  // namespace

Item MakeItem(const std::string& sku, uint32_t blob_bytes) {
  Item item;
  item.set_sku(sku);
  item.set_category(::parity::inventory::v1::PART);
  item.mutable_dimensions()->set_width(1.5);
  item.mutable_dimensions()->set_height(-0.0);
  item.mutable_dimensions()->mutable_unit()->set_name("mm");
  (*item.mutable_stock_by_site())["north"] = 7;
  (*item.mutable_stock_by_site())["south"] = -3;
  (*item.mutable_stock_by_site())[""] = 0;
  item.add_tags("a");
  item.add_tags("");
  item.add_tags(sku);
  if (sku.size() % 2 == 0) {
    item.set_cents(1999);
  } else {
    item.set_quote("on request");
  }
  item.mutable_updated()->set_seconds(1700000000);
  item.mutable_updated()->set_nanos(5);
  item.mutable_note()->set_value(std::string("n\0te", 4));
  std::string blob(blob_bytes, '\0');
  uint32_t seed = static_cast<uint32_t>(std::hash<std::string>()(sku));
  for (uint32_t i = 0; i < blob_bytes; ++i) blob[i] = static_cast<char>((i * 131 + seed) >> 3);
  item.set_blob(std::move(blob));
  (*item.mutable_variants())[-1].set_width(2);
  item.add_categories(::parity::inventory::v1::TOOL);
  item.add_categories(::parity::inventory::v1::CATEGORY_UNSPECIFIED);
  return item;
}

int Observations::Held() {
  std::lock_guard<std::mutex> lock(mutex_);
  return held_;
}

void Observations::Hold(std::function<void()> finish) {
  std::unique_lock<std::mutex> lock(mutex_);
  if (released_) {
    lock.unlock();
    if (finish) finish();
    return;
  }
  ++held_;
  if (finish) {
    finishers_.push_back(std::move(finish));
    return;
  }
  released_changed_.wait(lock, [this] { return released_; });
}

void Observations::ReleaseHeld() {
  std::vector<std::function<void()>> finishers;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    released_ = true;
    finishers.swap(finishers_);
  }
  released_changed_.notify_all();
  for (const auto& finish : finishers) finish();
}

Status SyncInventory::Get(::grpc::ServerContext* context, const Query* query, Item* item) {
  EchoMetadata(context);
  if (query->hold()) observations_->Hold(nullptr);
  if (query->wait_for_cancel()) return WaitForCancel(context, observations_);
  if (query->server_cancel()) {
    context->TryCancel();
    return Status::OK;
  }
  if (query->fail_code() != 0) return QueryStatus(*query);
  *item = MakeItem(query->sku(), query->blob_bytes());
  return Status::OK;
}

Status SyncInventory::Ping(::grpc::ServerContext* context, const Empty*, Empty*) {
  EchoMetadata(context);
  return Status::OK;
}

Status SyncInventory::List(::grpc::ServerContext* context, const Query* query,
                           ::grpc::ServerWriter<Item>* writer) {
  EchoMetadata(context);
  for (uint32_t i = 0; i < query->count(); ++i) {
    if (query->fail_code() != 0 && i == query->fail_after()) return QueryStatus(*query);
    Item item = MakeItem(query->sku() + "-" + std::to_string(i), query->blob_bytes());
    bool ok;
    if (IsLastWrite(*query, i)) {
      writer->WriteLast(item, ::grpc::WriteOptions());
      ok = true;
    } else {
      ok = writer->Write(item);
    }
    if (!ok) return Status(StatusCode::UNAVAILABLE, "the stream broke");
  }
  if (query->fail_code() != 0 && query->fail_after() == query->count()) {
    return QueryStatus(*query);
  }
  if (query->wait_for_cancel()) return WaitForCancel(context, observations_);
  return Status::OK;
}

Status SyncInventory::Upload(::grpc::ServerContext* context, ::grpc::ServerReader<Item>* reader,
                             UploadSummary* summary) {
  EchoMetadata(context);
  Item item;
  while (reader->Read(&item)) {
    if (item.sku() == "fail") return Status(StatusCode::INVALID_ARGUMENT, "bad item");
    summary->set_count(summary->count() + 1);
    summary->set_blob_bytes(summary->blob_bytes() + item.blob().size());
    summary->add_skus(item.sku());
  }
  return Status::OK;
}

Status SyncInventory::Sync(::grpc::ServerContext* context,
                           ::grpc::ServerReaderWriter<Item, Item>* stream) {
  EchoMetadata(context);
  Item in;
  bool wrote_last = false;
  while (stream->Read(&in)) {
    if (in.sku() == "fail") return Status(StatusCode::INVALID_ARGUMENT, "bad item");
    if (wrote_last) continue;
    Item out = in;
    out.set_sku("re:" + in.sku());
    if (in.sku() == "last") {
      wrote_last = true;
      stream->WriteLast(out, ::grpc::WriteOptions());
    } else if (!stream->Write(out)) {
      return Status(StatusCode::UNAVAILABLE, "the stream broke");
    }
  }
  return Status::OK;
}

Status SyncInventory::Heartbeats(::grpc::ServerContext* context, const Empty*,
                                 ::grpc::ServerWriter<Empty>* writer) {
  EchoMetadata(context);
  for (int i = 0; i < 3; ++i) {
    if (!writer->Write(Empty())) return Status(StatusCode::UNAVAILABLE, "the stream broke");
  }
  return Status::OK;
}

::grpc::ServerUnaryReactor* CallbackInventory::Get(::grpc::CallbackServerContext* context,
                                                   const Query* query, Item* item) {
  EchoMetadata(context);
  if (query->wait_for_cancel()) return new CancelWaiter(observations_);
  ::grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  auto finish = [context, query, item, reactor] {
    if (query->server_cancel()) {
      context->TryCancel();
      reactor->Finish(Status::OK);
    } else if (query->fail_code() != 0) {
      reactor->Finish(QueryStatus(*query));
    } else {
      *item = MakeItem(query->sku(), query->blob_bytes());
      reactor->Finish(Status::OK);
    }
  };
  if (query->hold()) {
    observations_->Hold(finish);
  } else {
    finish();
  }
  return reactor;
}

::grpc::ServerUnaryReactor* CallbackInventory::Ping(::grpc::CallbackServerContext* context,
                                                    const Empty*, Empty*) {
  EchoMetadata(context);
  ::grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(Status::OK);
  return reactor;
}

::grpc::ServerWriteReactor<Item>* CallbackInventory::List(::grpc::CallbackServerContext* context,
                                                          const Query* query) {
  EchoMetadata(context);
  return new ListWriter(*query, observations_);
}

::grpc::ServerReadReactor<Item>* CallbackInventory::Upload(::grpc::CallbackServerContext* context,
                                                           UploadSummary* summary) {
  EchoMetadata(context);
  return new UploadReader(summary);
}

::grpc::ServerBidiReactor<Item, Item>* CallbackInventory::Sync(
    ::grpc::CallbackServerContext* context) {
  EchoMetadata(context);
  return new SyncReactor();
}

::grpc::ServerWriteReactor<Empty>* CallbackInventory::Heartbeats(
    ::grpc::CallbackServerContext* context, const Empty*) {
  EchoMetadata(context);
  return new HeartbeatWriter();
}

}  // namespace notnets::parity
