#include "directory/faulty_backend.h"

#include <chrono>
#include <thread>

namespace sluice::directory {

void FaultSwitch::Set(const FaultOptions& f) {
  std::lock_guard lock(mu_);
  f_ = f;
}

FaultOptions FaultSwitch::Get() {
  std::lock_guard lock(mu_);
  return f_;
}

bool FaultSwitch::Fails() {
  std::lock_guard lock(mu_);
  return f_.error_rate > 0 && std::uniform_real_distribution<double>(0, 1)(rng_) < f_.error_rate;
}

namespace {

class FaultyBackend final : public Backend {
 public:
  FaultyBackend(std::unique_ptr<Backend> inner, std::shared_ptr<FaultSwitch> faults)
      : inner_(std::move(inner)), faults_(std::move(faults)) {}

  LookupResult Lookup(const std::string& address, const std::string& tenant) override {
    if (!Inject()) return LookupResult::TryLater(Reason::kBackendError, "");
    return inner_->Lookup(address, tenant);
  }

  void Start(const std::string& address, const std::string& tenant, Done done) override {
    if (!Inject()) return done(LookupResult::TryLater(Reason::kBackendError, ""));
    inner_->Start(address, tenant, std::move(done));
  }

 private:
  // Waits out the latency and any hang; false: this lookup fails.
  bool Inject() {
    FaultOptions f = faults_->Get();
    if (f.latency.count() > 0) std::this_thread::sleep_for(f.latency);
    for (int i = 0; i < 12'000 && f.hang; ++i) {  // at most 10 minutes
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      f.hang = faults_->Get().hang;
    }
    return !faults_->Fails();
  }

  std::unique_ptr<Backend> inner_;
  std::shared_ptr<FaultSwitch> faults_;
};

}  // namespace

std::unique_ptr<Backend> WithFaults(std::unique_ptr<Backend> backend, std::shared_ptr<FaultSwitch> faults) {
  return std::make_unique<FaultyBackend>(std::move(backend), std::move(faults));
}

}  // namespace sluice::directory
