#include "results.h"

#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>

namespace notnets::bench {

std::string DefaultResultsDir() {
  std::time_t now = std::time(nullptr);
  std::tm local = {};
  localtime_r(&now, &local);
  char stamp[32];
  std::strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &local);
  return std::string("results/") + stamp;
}

Status MakeResultsDir(const std::string& dir) {
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error) {
    return Status(StatusCode::INTERNAL, "cannot create " + dir + ": " + error.message());
  }
  return Status::OK;
}

Status WriteResultFile(const std::string& dir, const std::string& name,
                       const std::function<void(FILE*)>& write) {
  std::string path = dir + "/" + name;
  FILE* file = std::fopen(path.c_str(), "w");
  if (file == nullptr) {
    return Status(StatusCode::INTERNAL, "cannot write " + path + ": " + std::strerror(errno));
  }
  write(file);
  if (std::fclose(file) != 0) {
    return Status(StatusCode::INTERNAL, "cannot write " + path + ": " + std::strerror(errno));
  }
  return Status::OK;
}

}  // namespace notnets::bench
