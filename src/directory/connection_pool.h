// Idle back-end connections shared by a forest's lookup threads: take one
// (or open a new one), give it back when it is healthy, drop it when not.
// Used by the SQLite and LDAP back ends alike.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <vector>

namespace sluice::directory {

template <class Conn>
class ConnectionPool {
 public:
  // `open` makes a new connection, or returns null when it cannot.
  explicit ConnectionPool(std::function<std::unique_ptr<Conn>()> open) : open_(std::move(open)) {}

  std::unique_ptr<Conn> Take() {
    {
      std::lock_guard lock(mu_);
      if (!idle_.empty()) {
        auto c = std::move(idle_.back());
        idle_.pop_back();
        return c;
      }
    }
    return open_();
  }

  void Give(std::unique_ptr<Conn> c) {
    std::lock_guard lock(mu_);
    idle_.push_back(std::move(c));
  }

 private:
  std::function<std::unique_ptr<Conn>()> open_;
  std::mutex mu_;
  std::vector<std::unique_ptr<Conn>> idle_;
};

}  // namespace sluice::directory
