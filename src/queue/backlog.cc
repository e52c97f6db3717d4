#include "queue/backlog.h"

#include <fmt/format.h>

namespace sluice::queue {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::optional<PackedId> PackedId::Pack(std::string_view id) {
  if (id.size() != 18) return std::nullopt;
  PackedId p;
  for (size_t i = 0; i < 18; ++i) {
    const int v = HexValue(id[i]);
    if (v < 0) return std::nullopt;
    if (i < 16) {
      p.hi = p.hi << 4 | static_cast<uint64_t>(v);
    } else {
      p.lo = static_cast<uint8_t>(p.lo << 4 | v);
    }
  }
  return p;
}

std::string PackedId::Unpack() const { return fmt::format("{:016X}{:02X}", hi, lo); }

bool Backlog::Put(std::string_view id, Slot slot) {
  auto p = PackedId::Pack(id);
  if (!p) return false;
  auto [it, fresh] = slots_.try_emplace(*p, slot);
  if (!fresh) {
    if (it->second.wait == Wait::kDue) due_.erase({it->second.due, *p});
    it->second = slot;
  }
  if (slot.wait == Wait::kDue) due_.emplace(slot.due, *p);
  return true;
}

std::optional<Backlog::Slot> Backlog::Take(std::string_view id) {
  auto p = PackedId::Pack(id);
  if (!p) return std::nullopt;
  auto it = slots_.find(*p);
  if (it == slots_.end()) return std::nullopt;
  Slot s = it->second;
  if (s.wait == Wait::kDue) due_.erase({s.due, *p});
  slots_.erase(it);
  return s;
}

std::optional<Backlog::Slot> Backlog::Find(std::string_view id) const {
  auto p = PackedId::Pack(id);
  if (!p) return std::nullopt;
  auto it = slots_.find(*p);
  if (it == slots_.end()) return std::nullopt;
  return it->second;
}

std::optional<std::pair<std::string, Backlog::Slot>> Backlog::PopDue(int64_t now) {
  if (due_.empty() || due_.begin()->first > now) return std::nullopt;
  const PackedId p = due_.begin()->second;
  due_.erase(due_.begin());
  auto it = slots_.find(p);
  Slot s = it->second;
  slots_.erase(it);
  return std::make_pair(p.Unpack(), s);
}

std::optional<int64_t> Backlog::NextDue() const {
  if (due_.empty()) return std::nullopt;
  return due_.begin()->first;
}

size_t Backlog::Unpark(int64_t now) {
  size_t n = 0;
  for (auto& [id, slot] : slots_) {
    if (slot.wait != Wait::kParked) continue;
    slot.wait = Wait::kDue;
    slot.due = now;
    due_.emplace(now, id);
    ++n;
  }
  return n;
}

Backlog::Counts Backlog::Count(int64_t now) const {
  Counts c;
  for (auto it = due_.begin(); it != due_.end() && it->first <= now; ++it) ++c.ready;
  c.deferred = due_.size() - c.ready;
  c.hold = slots_.size() - due_.size();
  return c;
}

std::optional<std::string> Backlog::Oldest() const {
  if (slots_.empty()) return std::nullopt;
  return slots_.begin()->first.Unpack();
}

}  // namespace sluice::queue
