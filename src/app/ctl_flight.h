// `sluicectl flight start FILE --share 10% | promote | rollback | status [--nodes]`:
// staged rollout of a candidate config through the admin API.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>

#include "app/admin_client.h"

namespace sluice::app {

class FlightCommands {
 public:
  explicit FlightCommands(CLI::App& parent);
  ~FlightCommands();
  bool chosen() const;
  int Run(const Target& target);  // returns the exit code

 private:
  struct Args;
  std::unique_ptr<Args> a_;
};

}  // namespace sluice::app
