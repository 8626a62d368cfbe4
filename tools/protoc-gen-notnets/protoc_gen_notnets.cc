// protoc-gen-notnets: a protoc plugin, run beside grpc_cpp_plugin, that writes
// foo/bar.notnets.pb.cc for each foo/bar.proto. The file registers every service of the proto with
// notnets::grpc at static initialization, so that linking it in is all a program does to serve or
// call those services over the memory pool.
//
// A proto without services still gets its file (holding only a comment), because build rules
// list one output per proto and would fail on a missing one, as they would with grpc_cpp_plugin.
// The plugin takes no parameters.
#include <google/protobuf/compiler/code_generator.h>
#include <google/protobuf/compiler/plugin.h>
#include <google/protobuf/descriptor.h>
#include <google/protobuf/io/printer.h>
#include <google/protobuf/io/zero_copy_stream.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>

namespace {

namespace pb = google::protobuf;

// Returns `name` with every "." replaced by `separator`.
std::string ReplaceDots(const std::string& name, const std::string& separator) {
  std::string result;
  for (char c : name) {
    if (c == '.') {
      result += separator;
    } else {
      result += c;
    }
  }
  return result;
}

// Returns the C++ namespace of `file`'s package, with a leading and a trailing "::" ("::" when
// the file has no package), ready to prefix a class name.
std::string CppNamespace(const pb::FileDescriptor* file) {
  if (file->package().empty()) return "::";
  return "::" + ReplaceDots(file->package(), "::") + "::";
}

// Returns the fully qualified C++ class of `message`. protoc's C++ generator does not nest
// classes for nested messages but joins them with "_" at namespace scope (Outer.Inner is
// Outer_Inner), and grpc_cpp_plugin's headers name them the same way.
std::string CppClassName(const pb::Descriptor* message) {
  const std::string& package = message->file()->package();
  const size_t package_prefix = package.empty() ? 0 : package.size() + 1;
  return CppNamespace(message->file()) +
         ReplaceDots(message->full_name().substr(package_prefix), "_");
}

// The message types of a method, "Request, Response" as template arguments.
std::string MethodTypes(const pb::MethodDescriptor* method) {
  return CppClassName(method->input_type()) + ", " + CppClassName(method->output_type());
}

bool IsUnary(const pb::MethodDescriptor* method) {
  return !method->client_streaming() && !method->server_streaming();
}

// Tags naming the message allocator member of each unary method's callback handler, by the
// method's types ("Request, Response" -> "UnaryAllocator<n>").
using AllocatorTags = std::map<std::string, std::string>;

AllocatorTags TagsOf(const pb::FileDescriptor* file) {
  AllocatorTags tags;
  for (int i = 0; i < file->service_count(); ++i) {
    for (int j = 0; j < file->service(i)->method_count(); ++j) {
      const pb::MethodDescriptor* method = file->service(i)->method(j);
      if (!IsUnary(method)) continue;
      tags.emplace(MethodTypes(method), "UnaryAllocator" + std::to_string(tags.size()));
    }
  }
  return tags;
}

// Writes what reads the message allocator (SetMessageAllocatorFor_Foo) of a callback unary
// method: gRPC 1.51 keeps it in a private member of the method's handler, which an explicit
// instantiation, not access-checked, may name. Inside the file's unnamed namespace.
void PrintAllocatorAccess(const AllocatorTags& tags, pb::io::Printer* printer) {
  printer->Print(
      "\n"
      "// gRPC 1.51 keeps a callback unary method's message allocator "
      "(SetMessageAllocatorFor_Foo)\n"
      "// in a private member of the method's handler; the explicit instantiations of\n"
      "// ExposeAllocator below, which are not access-checked, define AllocatorMember to name it.\n"
      "template <class Tag, auto kMember>\n"
      "struct ExposeAllocator {\n"
      "  friend auto AllocatorMember(Tag) { return kMember; }\n"
      "};\n");
  for (const auto& [types, tag] : tags) {
    printer->Print("struct $tag$ {\n  friend auto AllocatorMember($tag$);\n};\n", "tag", tag);
  }
  // In the namespace of the template, where both gcc and clang accept an explicit instantiation.
  for (const auto& [types, tag] : tags) {
    printer->Print(
        "template struct ExposeAllocator<\n"
        "    $tag$, &::grpc::internal::CallbackUnaryHandler<$types$>::allocator_>;\n",
        "tag", tag, "types", types);
  }
  printer->Print(
      "\n"
      "template <class Tag, class Request, class Response>\n"
      "::grpc::MessageAllocator<Request, Response>* AllocatorOf(\n"
      "    ::grpc::internal::MethodHandler* handler) {\n"
      "  return static_cast<::grpc::internal::CallbackUnaryHandler<Request, Response>*>(handler)\n"
      "      ->*AllocatorMember(Tag{});\n"
      "}\n");
}

// Writes the registration of `service`: one binder call per method, in declaration order.
void PrintRegistration(const pb::ServiceDescriptor* service, const AllocatorTags& tags,
                       pb::io::Printer* printer) {
  const std::string service_class = CppNamespace(service->file()) + service->name();
  printer->Print(
      "const ::notnets::grpc::ServiceRegistration kNotnetsRegistration_$var$(\n"
      "    ::notnets::grpc::ServiceBinder<$class$>(\"$full_name$\")",
      "var", ReplaceDots(service->full_name(), "_"), "class", service_class, "full_name",
      service->full_name());
  for (int i = 0; i < service->method_count(); ++i) {
    const pb::MethodDescriptor* method = service->method(i);
    const std::string types = MethodTypes(method);
    if (IsUnary(method)) {
      // Unary calls bind both the sync and the callback handler because a service implements
      // exactly one of them; the next lines are aligned under the first argument.
      const std::string head = "        .Unary<" + types + ">(";
      printer->Print(
          "\n$head$\"$method$\", &$class$::Service::$method$,\n"
          "$indent$&$class$::CallbackService::$method$,\n"
          "$indent$&AllocatorOf<$tag$, $types$>)",
          "head", head, "method", method->name(), "class", service_class, "indent",
          std::string(head.size(), ' '), "tag", tags.at(types), "types", types);
      continue;
    }
    const char* kind = method->client_streaming()
                           ? (method->server_streaming() ? "BidiStreaming" : "ClientStreaming")
                           : "ServerStreaming";
    printer->Print("\n        .$kind$<$types$>(\"$method$\", &$class$::CallbackService::$method$)",
                   "kind", kind, "types", types, "method", method->name(), "class", service_class);
  }
  printer->Print(");\n");
}

// Writes foo/bar.notnets.pb.cc for foo/bar.proto.
class NotnetsGenerator final : public pb::compiler::CodeGenerator {
 public:
  bool Generate(const pb::FileDescriptor* file, const std::string& parameter,
                pb::compiler::GeneratorContext* context, std::string* error) const override {
    if (!parameter.empty()) {
      // A typo in --notnets_opt should not silently generate something else than asked for.
      *error = "protoc-gen-notnets takes no parameters, got \"" + parameter + "\"";
      return false;
    }
    const std::string base = pb::compiler::StripProto(file->name());
    std::unique_ptr<pb::io::ZeroCopyOutputStream> output(context->Open(base + ".notnets.pb.cc"));
    pb::io::Printer printer(output.get(), '$');
    printer.Print("// Generated by protoc-gen-notnets from $proto$. Do not edit.\n", "proto",
                  file->name());
    if (file->service_count() == 0) {
      printer.Print("// $proto$ declares no services, so there is nothing to bind.\n", "proto",
                    file->name());
      return !printer.failed();
    }
    printer.Print(
        "// Binds the services of $proto$ to notnets, so that notnets::grpc serves them over the\n"
        "// memory pool and its channels send their calls there.\n"
        "#include \"$base$.grpc.pb.h\"\n"
        "#include \"notnets/grpc/binding.h\"\n"
        "\n"
        "namespace {\n",
        "proto", file->name(), "base", base);
    const AllocatorTags tags = TagsOf(file);
    if (!tags.empty()) PrintAllocatorAccess(tags, &printer);
    for (int i = 0; i < file->service_count(); ++i) {
      printer.Print("\n");
      PrintRegistration(file->service(i), tags, &printer);
    }
    printer.Print("\n}  // namespace\n");
    return !printer.failed();
  }

  // Proto3 optional fields change nothing in what this plugin writes; without declaring that,
  // protoc refuses to run it on files that have them.
  uint64_t GetSupportedFeatures() const override { return FEATURE_PROTO3_OPTIONAL; }
};

}  // namespace

int main(int argc, char* argv[]) {
  NotnetsGenerator generator;
  return pb::compiler::PluginMain(argc, argv, &generator);
}
