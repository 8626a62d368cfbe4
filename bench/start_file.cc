#include "start_file.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

namespace notnets::bench {
namespace {

std::atomic<uint64_t> g_next_file{0};

}  // namespace

StartFile::StartFile()
    : path_((std::filesystem::temp_directory_path() /
             ("notnets-bench-start-" + std::to_string(getpid()) + "-" +
              std::to_string(g_next_file.fetch_add(1))))
                .string()),
      remove_on_emergency_(std::make_unique<EmergencyUnlink>(path_)) {}

StartFile::~StartFile() {
  std::remove(path_.c_str());
  std::remove((path_ + ".new").c_str());
}

Status StartFile::Publish(int64_t start_ns) {
  std::string staged = path_ + ".new";
  {
    std::ofstream out(staged, std::ios::trunc);
    out << start_ns << '\n';
    if (!out.flush()) {
      return Status(StatusCode::INTERNAL, "cannot write the start file " + staged);
    }
  }
  if (std::rename(staged.c_str(), path_.c_str()) != 0) {
    return Status(StatusCode::INTERNAL, "cannot rename the start file onto " + path_);
  }
  return Status::OK;
}

Status AwaitStart(const std::string& path, double timeout_seconds, int64_t* start_ns) {
  auto give_up = std::chrono::steady_clock::now() +
                 std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                     std::chrono::duration<double>(timeout_seconds));
  while (std::chrono::steady_clock::now() < give_up) {
    std::ifstream in(path);
    if (in >> *start_ns) return Status::OK;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return Status(StatusCode::DEADLINE_EXCEEDED, "the parent never wrote the start to " + path);
}

}  // namespace notnets::bench
