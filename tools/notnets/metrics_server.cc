#include "metrics_server.h"

#include <httplib.h>
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "stats_format.h"
#include "tool_output.h"

namespace notnets::tool {

namespace {

// Splits "[HOST]:PORT"; false if there is no port in [0, 65535].
bool ParseAddress(const std::string& address, std::string* host, int* port) {
  size_t colon = address.rfind(':');
  if (colon == std::string::npos) return false;
  std::string digits = address.substr(colon + 1);
  if (digits.empty() || digits.size() > 5 ||
      digits.find_first_not_of("0123456789") != std::string::npos) {
    return false;
  }
  *port = std::atoi(digits.c_str());
  *host = colon == 0 ? "0.0.0.0" : address.substr(0, colon);
  return *port <= 65535;
}

}  // namespace

int ServeMetrics(const PoolWatch& watch, const std::string& address) {
  std::string host;
  int port = 0;
  if (!ParseAddress(address, &host, &port)) {
    return Refuse("invalid --serve '" + address + "': give [HOST]:PORT, PORT from 0 to 65535");
  }
  // The signals go to the thread that waits for them, which stops the server: a handler could
  // not do that safely.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  httplib::Server server;
  server.Get("/metrics", [&watch](const httplib::Request&, httplib::Response& response) {
    response.set_content(FormatStatsPrometheus(watch.path(), watch.Read()),
                         "text/plain; version=0.0.4; charset=utf-8");
  });
  int bound =
      port == 0 ? server.bind_to_any_port(host) : (server.bind_to_port(host, port) ? port : -1);
  if (bound < 0) {
    return Fail(Status(StatusCode::UNAVAILABLE, "cannot listen on " + address));
  }
  std::printf("serving http://%s:%d/metrics\n", host.c_str(), bound);
  std::fflush(stdout);
  std::atomic<bool> signalled{false};
  std::thread stopper([&server, &signals, &signalled] {
    int signal = 0;
    sigwait(&signals, &signal);
    signalled.store(true);
    server.stop();
  });
  bool served = server.listen_after_bind();
  // Returned without a signal (the server failed): wake the stopper with one of its own.
  bool interrupted = signalled.load();
  if (!interrupted) pthread_kill(stopper.native_handle(), SIGTERM);
  stopper.join();
  if (!served && !interrupted) {
    return Fail(Status(StatusCode::UNAVAILABLE, "serving on " + address + " failed"));
  }
  return 0;
}

}  // namespace notnets::tool
