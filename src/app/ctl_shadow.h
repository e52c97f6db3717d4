// `sluicectl node drain|undrain NODE [--wait]`, `node status`,
// `shadow status` and `safetynet resubmit --destination D --since T
// [--until T]`: shadow copies, drain and the safety net through the admin
// API (doc/cluster.md, "Shadow copies").
#pragma once

#include <CLI/CLI.hpp>
#include <memory>

#include "app/admin_client.h"

namespace sluice::app {

class ShadowCommands {
 public:
  explicit ShadowCommands(CLI::App& parent);
  ~ShadowCommands();
  bool chosen() const;
  int Run(const Target& target);  // returns the exit code

 private:
  struct Args;
  std::unique_ptr<Args> a_;
};

// A moment for --since/--until: unix seconds, "2026-12-01T10:00:00Z"
// (UTC), or an age before now ("90m", "2d"). nullopt when malformed.
std::optional<int64_t> ParseWhen(const std::string& s, int64_t now_unix);

}  // namespace sluice::app
