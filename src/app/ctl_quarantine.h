// `sluicectl quarantine list|show|release|delete`: the quarantine through
// the admin API (doc/protection.md, "Quarantine").
#pragma once

#include <CLI/CLI.hpp>
#include <memory>

#include "app/admin_client.h"

namespace sluice::app {

class QuarantineCommands {
 public:
  explicit QuarantineCommands(CLI::App& parent);
  ~QuarantineCommands();
  bool chosen() const;
  // Runs the chosen command; returns the exit code.
  int Run(const Target& target);

 private:
  struct Args;
  std::unique_ptr<Args> a_;
};

}  // namespace sluice::app
