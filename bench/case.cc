#include "case.h"

#include <algorithm>

namespace notnets::bench {
namespace {

// A registered case.
struct Entry {
  int rank;
  std::string name;
  CaseFactory factory;
};

// Function-local so that registrations from other files' static initializers find it built.
std::vector<Entry>& Registry() {
  static std::vector<Entry> registry;
  return registry;
}

}  // namespace

CaseRegistration::CaseRegistration(int rank, std::string name, CaseFactory factory) {
  std::vector<Entry>& registry = Registry();
  Entry entry{rank, std::move(name), std::move(factory)};
  auto position = std::upper_bound(registry.begin(), registry.end(), entry,
                                   [](const Entry& a, const Entry& b) { return a.rank < b.rank; });
  registry.insert(position, std::move(entry));
}

std::vector<std::string> RegisteredCaseNames() {
  std::vector<std::string> names;
  for (const Entry& entry : Registry()) names.push_back(entry.name);
  return names;
}

std::unique_ptr<Case> MakeCase(std::string_view name) {
  for (const Entry& entry : Registry()) {
    if (entry.name == name) return entry.factory();
  }
  return nullptr;
}

}  // namespace notnets::bench
