// JobMode::kHold: idle connections that stay open while another client is measured.
#include "runners.h"

namespace notnets::bench {

Status RunHoldJob(Case* bench_case, const Job& job, ParentPipe* parent) {
  ClientOptions options;
  options.payload_size = job.payload_size;
  options.idle = true;
  std::vector<std::unique_ptr<EchoClient>> clients;
  for (uint32_t i = 0; i < job.connections; ++i) {
    std::unique_ptr<EchoClient> client;
    Status status = bench_case->Connect(job.server_args, job.endpoint, options, &client);
    if (!status.ok()) {
      return Status(status.error_code(), "connecting idle client " + std::to_string(i + 1) + ": " +
                                             status.error_message());
    }
    // One call, so that the server has accepted the connection before the measurement.
    status = client->Call();
    if (!status.ok()) {
      return Status(status.error_code(),
                    "calling idle client " + std::to_string(i + 1) + ": " + status.error_message());
    }
    clients.push_back(std::move(client));
  }
  parent->Ready(std::to_string(clients.size()));
  WaitForStopSignal();
  return Status::OK;
}

}  // namespace notnets::bench
