// notnets-pool: create, inspect, list and remove shared memory pools.
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "notnets/pool.h"

namespace {

int Usage() {
  std::fprintf(stderr,
               "usage: notnets-pool create NAME [--size BYTES[k|m|g]] [--services N] "
               "[--non-coherent]\n"
               "       notnets-pool inspect NAME\n"
               "       notnets-pool remove NAME\n"
               "NAME is a path, or a name for /dev/shm/notnets-NAME.\n");
  return 2;
}

// Parses decimal digits with an optional k, m or g suffix; false for anything else, or a value
// that does not fit in 64 bits (it must not wrap around to a small size).
bool ParseSize(const char* text, uint64_t* bytes) {
  if (*text < '0' || *text > '9') return false;  // strtoull would take a sign
  char* end = nullptr;
  errno = 0;
  uint64_t value = std::strtoull(text, &end, 10);
  if (errno == ERANGE) return false;
  int shift = 0;
  switch (*end) {
    case 'k':
    case 'K':
      shift = 10;
      ++end;
      break;
    case 'm':
    case 'M':
      shift = 20;
      ++end;
      break;
    case 'g':
    case 'G':
      shift = 30;
      ++end;
      break;
    default:
      break;
  }
  if (value > (UINT64_MAX >> shift)) return false;
  *bytes = value << shift;
  return *end == '\0';
}

// Parses a decimal count in [1, 2^32 - 1]; false for anything else.
bool ParseCount(const char* text, uint32_t* count) {
  if (*text < '0' || *text > '9') return false;
  char* end = nullptr;
  errno = 0;
  unsigned long long value = std::strtoull(text, &end, 10);
  if (errno == ERANGE || *end != '\0' || value == 0 || value > UINT32_MAX) return false;
  *count = static_cast<uint32_t>(value);
  return true;
}

int BadValue(const std::string& flag, const char* value) {
  std::fprintf(stderr, "notnets-pool: invalid %s '%s': %s\n", flag.c_str(), value,
               flag == "--size"
                   ? "give bytes as digits with an optional k, m or g suffix, below 2^64"
                   : "give a count from 1 to 4294967295");
  return 2;
}

int Fail(const notnets::Status& status) {
  std::fprintf(stderr, "notnets-pool: %s\n", status.ToString().c_str());
  return 1;
}

int Inspect(const std::string& name) {
  std::shared_ptr<notnets::Pool> pool;
  notnets::Status status = notnets::Pool::Attach(name, &pool);
  if (!status.ok()) return Fail(status);
  notnets::PoolStats stats = pool->Stats();
  std::printf("pool            %s\n", stats.path.c_str());
  std::printf("layout version  %u\n", stats.layout_version);
  std::printf("size            %llu bytes\n", static_cast<unsigned long long>(stats.size_bytes));
  std::printf("coherence       %s\n", stats.coherence == notnets::CoherenceMode::kCoherent
                                          ? "coherent"
                                          : "write-back/invalidate");
  std::printf("heap            %llu bytes: %llu used in %llu blocks, %llu free\n",
              static_cast<unsigned long long>(stats.heap_bytes),
              static_cast<unsigned long long>(stats.heap_used_bytes),
              static_cast<unsigned long long>(stats.blocks_in_use),
              static_cast<unsigned long long>(stats.heap_free_bytes));
  std::printf("services        %zu\n", stats.services.size());
  for (const auto& service : stats.services) {
    std::printf("  %-40s pid %-8d methods %-4u connections accepted %llu\n", service.name.c_str(),
                service.server_pid, service.method_count,
                static_cast<unsigned long long>(service.connections_accepted));
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) return Usage();
  std::string command = argv[1];
  std::string name = argv[2];
  if (command == "create") {
    notnets::PoolOptions options;
    for (int i = 3; i < argc; ++i) {
      std::string flag = argv[i];
      if (flag == "--size" && i + 1 < argc) {
        ++i;
        if (!ParseSize(argv[i], &options.size_bytes)) return BadValue(flag, argv[i]);
      } else if (flag == "--services" && i + 1 < argc) {
        ++i;
        if (!ParseCount(argv[i], &options.max_services)) return BadValue(flag, argv[i]);
      } else if (flag == "--non-coherent") {
        options.coherence = notnets::CoherenceMode::kWriteBackInvalidate;
      } else {
        return Usage();
      }
    }
    std::shared_ptr<notnets::Pool> pool;
    notnets::Status status = notnets::Pool::Create(name, options, &pool);
    if (!status.ok()) return Fail(status);
    std::printf("created %s (%llu bytes)\n", pool->path().c_str(),
                static_cast<unsigned long long>(pool->Stats().size_bytes));
    return 0;
  }
  if (command == "inspect") return Inspect(name);
  if (command == "remove") {
    notnets::Status status = notnets::Pool::Remove(name);
    if (!status.ok()) return Fail(status);
    std::printf("removed %s\n", notnets::Pool::PathFor(name).c_str());
    return 0;
  }
  return Usage();
}
