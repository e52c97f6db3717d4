#include "common/breaker.h"

namespace sluice {

bool Breaker::Allow(Clock::time_point now) {
  if (!open_) return true;
  if (now - opened_at_ < o_.cooldown || probing_) return false;
  probing_ = true;  // half-open: this one lookup is the probe
  return true;
}

void Breaker::OnSuccess() {
  consecutive_ = 0;
  open_ = probing_ = false;
}

void Breaker::OnFailure(Clock::time_point now) {
  ++consecutive_;
  if (probing_ || consecutive_ >= o_.failures) {
    open_ = true;
    probing_ = false;
    opened_at_ = now;
  }
}

Breaker::State Breaker::state(Clock::time_point now) const {
  if (!open_) return State::kClosed;
  return now - opened_at_ < o_.cooldown && !probing_ ? State::kOpen : State::kHalfOpen;
}

const char* ToString(Breaker::State s) {
  switch (s) {
    case Breaker::State::kClosed: return "closed";
    case Breaker::State::kOpen: return "open";
    case Breaker::State::kHalfOpen: return "half-open";
  }
  return "?";
}

}  // namespace sluice
