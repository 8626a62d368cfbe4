#include "pool_command.h"

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "arguments.h"
#include "notnets/pool.h"
#include "tool_output.h"

namespace notnets::tool {

namespace {

struct CreateArguments {
  std::string name;
  std::string size;
  std::string services;
  std::string mode;
  bool non_coherent = false;
};

int Create(const CreateArguments& arguments) {
  PoolOptions options;
  if (!arguments.size.empty() && !ParseSize(arguments.size, &options.size_bytes)) {
    return Refuse("invalid --size '" + arguments.size +
                  "': give bytes as digits with an optional k, m or g suffix, below 2^64");
  }
  if (!arguments.services.empty() && !ParseCount(arguments.services, &options.max_services)) {
    return Refuse("invalid --services '" + arguments.services +
                  "': give a count from 1 to 4294967295");
  }
  if (!arguments.mode.empty() && !ParseMode(arguments.mode, &options.file_mode)) {
    return Refuse("invalid --mode '" + arguments.mode +
                  "': give octal permission bits such as 600, 660 or 666");
  }
  if (arguments.non_coherent) options.coherence = CoherenceMode::kWriteBackInvalidate;
  std::shared_ptr<Pool> pool;
  Status status = Pool::Create(arguments.name, options, &pool);
  if (!status.ok()) return Fail(status);
  std::printf("created %s (%llu bytes)\n", pool->path().c_str(),
              static_cast<unsigned long long>(pool->Stats().size_bytes));
  return 0;
}

// Who a service accepts as callers, as "uid 0,1000 gid 100", "anyone" or "unknown".
std::string Callers(const PoolStats::ServiceInfo& service) {
  if (service.any_caller) return "anyone";
  if (service.caller_uids.empty() && service.caller_gids.empty()) return "unknown";
  std::string text;
  auto list = [&text](const char* kind, const std::vector<uint32_t>& ids) {
    if (ids.empty()) return;
    text += text.empty() ? kind : std::string(" ") + kind;
    for (size_t i = 0; i < ids.size(); ++i) text += (i == 0 ? " " : ",") + std::to_string(ids[i]);
  };
  list("uid", service.caller_uids);
  list("gid", service.caller_gids);
  if (service.callers_cut_short) text += " and more";
  return text;
}

int Inspect(const std::string& name) {
  std::shared_ptr<Pool> pool;
  Status status = Pool::Attach(name, &pool);
  if (!status.ok()) return Fail(status);
  PoolStats stats = pool->Stats();
  std::printf("pool            %s\n", stats.path.c_str());
  std::printf("layout version  %u\n", stats.layout_version);
  std::printf("size            %llu bytes\n", static_cast<unsigned long long>(stats.size_bytes));
  std::printf("coherence       %s\n",
              stats.coherence == CoherenceMode::kCoherent ? "coherent" : "write-back/invalidate");
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
    std::string owner = "owner uid " + std::to_string(service.owner_uid);
    for (size_t i = 0; i < service.registrant_uids.size(); ++i) {
      owner += (i == 0 ? " (registrants " : ",") + std::to_string(service.registrant_uids[i]);
    }
    if (!service.registrant_uids.empty()) owner += ")";
    std::printf("    server uid %u, callers %s, %s\n", service.server_uid, Callers(service).c_str(),
                owner.c_str());
  }
  return 0;
}

int Remove(const std::string& name) {
  Status status = Pool::Remove(name);
  if (!status.ok()) return Fail(status);
  std::printf("removed %s\n", Pool::PathFor(name).c_str());
  return 0;
}

}  // namespace

void AddPoolCommand(CLI::App* app, int* exit_code) {
  CLI::App* pool = app->add_subcommand("pool", "Create, inspect and remove pool files");
  pool->require_subcommand(1);
  const char* name_help = "A path, or a name for /dev/shm/notnets-NAME";

  // CLI11 keeps the option targets: they live as long as the app.
  auto create_arguments = std::make_shared<CreateArguments>();
  CLI::App* create = pool->add_subcommand("create", "Create a pool file");
  create->add_option("NAME", create_arguments->name, name_help)->required();
  create->add_option("--size", create_arguments->size, "Bytes, with an optional k, m or g suffix");
  create->add_option("--services", create_arguments->services,
                     "Services the directory holds at once");
  create->add_option("--mode", create_arguments->mode,
                     "Octal permissions of the pool file (default 600: its owner alone); 660 or "
                     "666 let services of other users share it, each connection still readable "
                     "only by its two parties");
  create->add_flag("--non-coherent", create_arguments->non_coherent,
                   "Write back and invalidate cache lines (memory shared without coherence)");
  create->callback([create_arguments, exit_code] { *exit_code = Create(*create_arguments); });

  auto inspect_name = std::make_shared<std::string>();
  CLI::App* inspect =
      pool->add_subcommand("inspect", "Print the header, heap use and registered services");
  inspect->add_option("NAME", *inspect_name, name_help)->required();
  inspect->callback([inspect_name, exit_code] { *exit_code = Inspect(*inspect_name); });

  auto remove_name = std::make_shared<std::string>();
  CLI::App* remove = pool->add_subcommand("remove", "Remove a pool file");
  remove->add_option("NAME", *remove_name, name_help)->required();
  remove->callback([remove_name, exit_code] { *exit_code = Remove(*remove_name); });
}

}  // namespace notnets::tool
