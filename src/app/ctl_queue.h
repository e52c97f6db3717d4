// `sluicectl queue ...`: see, hold, release, retry, delete and bounce queued
// mail through the admin API.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>

#include "app/admin_client.h"

namespace sluice::app {

class QueueCommands {
 public:
  explicit QueueCommands(CLI::App& parent);
  ~QueueCommands();
  bool chosen() const;
  // Runs the chosen command; returns the exit code.
  int Run(const Target& target);

 private:
  struct Args;
  std::unique_ptr<Args> a_;
};

}  // namespace sluice::app
