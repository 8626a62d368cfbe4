// Writes the seed corpus of every fuzz target: notnets_fuzz_corpus DIR writes DIR/<target>/<seed>.
// The seeds are checked in under fuzz/corpus/; run this again after changing an input format.
//
// Most targets XOR their input over a well-formed structure, so their seeds are short: a flags
// byte that picks a mode, the rest left to the fuzzer (an input that ends early is a well-formed
// run). The metadata seeds are real encodings.
#include <sys/stat.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "notnets/metadata.h"
#include "pool/layout.h"
#include "rpc/metadata_codec.h"

namespace notnets::fuzz {
namespace {

using Bytes = std::string;

bool Write(const std::string& dir, const std::string& target, const std::string& name,
           const Bytes& bytes) {
  std::string path = dir + "/" + target;
  ::mkdir(path.c_str(), 0755);
  std::ofstream out(path + "/" + name, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return out.good();
}

Bytes Encode(const std::string* status_message, const Metadata* request, const Metadata* initial,
             const Metadata* trailing) {
  internal::MetadataSet set;
  set.status_message = status_message;
  set.sections[0] = request;
  set.sections[1] = initial;
  set.sections[2] = trailing;
  Bytes bytes(internal::EncodedMetadataBytes(set), '\0');
  internal::EncodeMetadata(set, reinterpret_cast<uint8_t*>(bytes.data()));
  return bytes;
}

int Main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: notnets_fuzz_corpus DIR (e.g. fuzz/corpus)\n");
    return 2;
  }
  std::string dir = argv[1];
  ::mkdir(dir.c_str(), 0755);
  bool ok = true;
  auto seed = [&](const std::string& target, const std::string& name, const Bytes& bytes) {
    ok = Write(dir, target, name, bytes) && ok;
  };

  // metadata_fuzzer: encodings as the client and the server write them.
  std::string message = "deadline exceeded while the handler ran";
  Metadata request = {{"user", "alice"}, {"trace-bin", Bytes("\0\xff\x01", 3)}, {"user", "bob"}};
  Metadata initial = {{"init", "1"}};
  Metadata trailing = {{"trailer", "t"}, {"empty", ""}};
  seed("metadata_fuzzer", "empty", Encode(nullptr, nullptr, nullptr, nullptr));
  seed("metadata_fuzzer", "request", Encode(nullptr, &request, nullptr, nullptr));
  seed("metadata_fuzzer", "status", Encode(&message, nullptr, nullptr, nullptr));
  Bytes response = Encode(&message, nullptr, &initial, &trailing);
  seed("metadata_fuzzer", "response", response);
  seed("metadata_fuzzer", "truncated", response.substr(0, response.size() - 3));

  // pool_header_fuzzer: flags, u32 XORed into the file size, bytes XORed over the header.
  seed("pool_header_fuzzer", "wellformed", Bytes(1, '\0'));
  seed("pool_header_fuzzer", "fix_checksum", Bytes(1, '\1'));
  Bytes non_coherent(5 + offsetof(internal::PoolHeader, coherence) + 1, '\0');
  non_coherent[0] = 1;
  non_coherent.back() = 1;
  seed("pool_header_fuzzer", "non_coherent", non_coherent);
  seed("pool_header_fuzzer", "short_file", Bytes("\0\0\x08\x10\0", 5));  // 1 MiB ^ 0x100800

  // directory_fuzzer: flags (bit 0 connect to fuzz.B, bit 1 register, bit 2 named fuzz.A).
  seed("directory_fuzzer", "connect_a", Bytes(1, '\0'));
  seed("directory_fuzzer", "connect_b", Bytes(1, '\1'));
  seed("directory_fuzzer", "register_c", Bytes(1, '\2'));
  seed("directory_fuzzer", "register_a", Bytes(1, '\6'));

  // connection_fuzzer: flags (bits 0-1 capacity, bits 2-3 rounds, bit 4 client reads).
  for (int capacity = 0; capacity < 4; ++capacity) {
    seed("connection_fuzzer", "capacity_" + std::to_string(2 << capacity),
         Bytes(1, static_cast<char>(capacity)));
  }
  seed("connection_fuzzer", "rounds_reading", Bytes(1, '\x1d'));

  // response_fuzzer: flags (bit 0 async, bit 1 withhold, bits 2-3 capacity, bits 4-6 count).
  seed("response_fuzzer", "final_only", Bytes(1, '\0'));
  seed("response_fuzzer", "sync", Bytes(1, '\x10'));
  seed("response_fuzzer", "async", Bytes(1, '\x11'));
  seed("response_fuzzer", "withheld", Bytes(1, '\x12'));
  seed("response_fuzzer", "many", Bytes(1, '\x3c'));

  // allocator_fuzzer: flags (bit 0 scribble everything), build steps, scribbles, run steps.
  auto step = [](uint32_t payload, uint8_t choice) {
    Bytes bytes(reinterpret_cast<const char*>(&payload), 4);
    return bytes + Bytes(1, static_cast<char>(choice));
  };
  Bytes build = Bytes(1, '\4') + step(100, 0) + step(100, 0) + step(0, 1) + step(5000, 0);
  Bytes run = Bytes(1, '\4') + step(100, 0) + step(100, 0) + step(100, 0) + step(3000, 0);
  Bytes head = Bytes(1, '\0') + Bytes(8, '\xff');  // free-list head of the 256-byte class
  Bytes link = Bytes(1, '\x80') + Bytes("\x40\0\0\0\0\0\0\0", 8);  // a freed block's link
  seed("allocator_fuzzer", "head", Bytes(1, '\0') + build + Bytes(1, '\1') + head + run);
  seed("allocator_fuzzer", "link", Bytes(1, '\0') + build + Bytes(1, '\1') + link + run);
  seed("allocator_fuzzer", "everything",
       Bytes(1, '\1') + build + Bytes(1, '\2') + head + Bytes(1, '\xf0') + Bytes(8, '\1') + run);

  if (!ok) std::fprintf(stderr, "cannot write the corpus under %s\n", dir.c_str());
  return ok ? 0 : 1;
}

}  // namespace
}  // namespace notnets::fuzz

int main(int argc, char** argv) { return notnets::fuzz::Main(argc, argv); }
