#include "spool/space.h"

#include <fmt/format.h>
#include <sys/statvfs.h>

#include <algorithm>

namespace sluice::spool {

const char* ToString(SpoolState s) {
  switch (s) {
    case SpoolState::kOk: return "ok";
    case SpoolState::kLow: return "low";
    case SpoolState::kFull: return "full";
    case SpoolState::kError: return "error";
  }
  return "?";
}

SpaceProbe StatvfsProbe(std::string path) {
  return [path = std::move(path)] {
    struct statvfs v {};
    if (statvfs(path.c_str(), &v) != 0) return FsSpace{};
    return FsSpace{static_cast<uint64_t>(v.f_bavail) * v.f_frsize, static_cast<uint64_t>(v.f_blocks) * v.f_frsize,
                   true};
  };
}

namespace {
constexpr uint64_t kMiB = 1024 * 1024;
uint64_t FloorFor(uint64_t min_free) { return std::max<uint64_t>(256 * 1024, min_free / 8); }
}  // namespace

// Two memtables (the active one and one being flushed) must fit in
// min_free − floor = 7/8 min_free: a quarter of min_free each.
uint64_t WriteBufferFor(uint64_t min_free) { return std::clamp<uint64_t>(min_free / 4, kMiB, 64 * kMiB); }

SpaceGuard::SpaceGuard(uint64_t min_free, SpaceProbe probe, std::chrono::milliseconds probe_every)
    : min_free_(min_free), floor_(FloorFor(min_free)), probe_(std::move(probe)), probe_every_(probe_every) {
  std::lock_guard lock(mu_);
  Probe(Clock::now());
}

void SpaceGuard::Probe(Clock::time_point now) {
  FsSpace s = probe_();
  probed_at_ = now;
  written_ = 0;
  // A failed probe counts as no space: never trust what cannot be measured.
  probed_free_ = s.ok ? s.free : 0;
  probed_total_ = s.total;
}

uint64_t SpaceGuard::Free() {
  const auto now = Clock::now();
  {
    std::unique_lock lock(mu_, std::try_to_lock);
    // One caller probes; the others use the estimate it leaves.
    if (lock.owns_lock() && now - probed_at_ > probe_every_) Probe(now);
  }
  const uint64_t free = probed_free_.load(), written = written_.load();
  return free > written ? free - written : 0;
}

void SpaceGuard::Invalidate() {
  std::lock_guard lock(mu_);
  probed_at_ = {};
}

Status SpaceGuard::AdmitMail(uint64_t bytes) {
  switch (StoreState()) {
    case SpoolState::kError: return Status::IoError("spool: " + reason());
    case SpoolState::kLow:
    case SpoolState::kFull: return Status::NoSpace("spool: " + reason());
    case SpoolState::kOk: break;
  }
  const uint64_t free = Free();
  if (free < min_free_ || free - min_free_ < bytes) {
    refused_size_ = bytes;
    refusing_until_ns_ = std::chrono::duration_cast<std::chrono::nanoseconds>(
                             (Clock::now() + std::chrono::seconds(5)).time_since_epoch()).count();
    return Status::NoSpace(fmt::format("spool: a message of {} bytes does not fit ({} free, {} kept free)", bytes,
                                       free, min_free_));
  }
  return Status::Ok();
}

bool SpaceGuard::AdmitWrite(uint64_t bytes, bool background) {
  const uint64_t floor = background ? floor_ / 2 : floor_;
  const uint64_t free = Free();
  if (free < floor || free - floor < bytes) {
    refused_ = true;
    return false;
  }
  written_ += bytes;
  return true;
}

void SpaceGuard::OnStoreError(bool no_space, const std::string& why) {
  std::lock_guard lock(mu_);
  store_failed_ = true;
  no_space_ = no_space;
  why_ = why;
}

void SpaceGuard::OnStoreRecovered() {
  std::lock_guard lock(mu_);
  store_failed_ = false;
  no_space_ = false;
  refused_ = false;
  why_.clear();
}

void SpaceGuard::Settle() {
  if (refused_ && !store_failed_ && Free() >= 2 * floor_) refused_ = false;
}

SpoolState SpaceGuard::StoreState() {
  if (store_failed_ && !no_space_) return SpoolState::kError;
  if (store_failed_ || refused_) return SpoolState::kFull;
  if (Free() < min_free_) return SpoolState::kLow;
  return SpoolState::kOk;
}

SpoolState SpaceGuard::state() {
  const SpoolState s = StoreState();
  if (s != SpoolState::kOk) return s;
  const int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
  if (now < refusing_until_ns_.load() && Free() - min_free_ < refused_size_.load()) return SpoolState::kLow;
  return SpoolState::kOk;
}

std::string SpaceGuard::reason() {
  const uint64_t free = Free();
  switch (state()) {
    case SpoolState::kOk: return {};
    case SpoolState::kLow:
      return free < min_free_ ? fmt::format("{} MiB free, below min_free {} MiB", free / kMiB, min_free_ / kMiB)
                              : fmt::format("{} MiB free: messages above {} MiB refused in the last 5 s (min_free {} MiB)",
                                            free / kMiB, (free - min_free_) / kMiB, min_free_ / kMiB);
    case SpoolState::kFull: {
      std::lock_guard lock(mu_);
      return fmt::format("out of space ({} MiB free){}", free / kMiB, why_.empty() ? "" : ": " + why_);
    }
    case SpoolState::kError: {
      std::lock_guard lock(mu_);
      return "store failed: " + why_;
    }
  }
  return {};
}

}  // namespace sluice::spool
