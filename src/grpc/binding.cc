#include "notnets/grpc/binding.h"

#include "rpc/mutex.h"

namespace notnets::grpc::internal {

namespace {

// Written by static initializers of generated code, read by channels and servers afterwards.
struct Registry {
  ::notnets::internal::Mutex mutex;
  std::vector<std::unique_ptr<ServiceBinding>> services NOTNETS_GUARDED_BY(mutex);
};

Registry& TheRegistry() {
  static Registry* registry = new Registry();
  return *registry;
}

}  // namespace

void RegisterBinding(ServiceBinding binding) {
  Registry& registry = TheRegistry();
  ::notnets::internal::MutexLock lock(&registry.mutex);
  registry.services.push_back(std::make_unique<ServiceBinding>(std::move(binding)));
}

const ServiceBinding* FindBinding(::grpc::Service* service) {
  Registry& registry = TheRegistry();
  ::notnets::internal::MutexLock lock(&registry.mutex);
  for (const auto& binding : registry.services) {
    if (binding->is_sync(service) || binding->is_callback(service)) return binding.get();
  }
  return nullptr;
}

const ServiceBinding* FindBindingByName(std::string_view name) {
  Registry& registry = TheRegistry();
  ::notnets::internal::MutexLock lock(&registry.mutex);
  for (const auto& binding : registry.services) {
    if (binding->name == name) return binding.get();
  }
  return nullptr;
}

const MethodBinding* FindMethod(const std::string& full_method, const ServiceBinding** service) {
  // "/pkg.Service/Method"
  size_t slash = full_method.rfind('/');
  if (full_method.empty() || full_method[0] != '/' || slash == 0 || slash == std::string::npos) {
    return nullptr;
  }
  std::string_view service_name(full_method.data() + 1, slash - 1);
  std::string_view method_name(full_method.data() + slash + 1, full_method.size() - slash - 1);
  Registry& registry = TheRegistry();
  ::notnets::internal::MutexLock lock(&registry.mutex);
  for (const auto& binding : registry.services) {
    if (binding->name != service_name) continue;
    for (const MethodBinding& method : binding->methods) {
      if (method.name == method_name) {
        *service = binding.get();
        return &method;
      }
    }
  }
  return nullptr;
}

}  // namespace notnets::grpc::internal
