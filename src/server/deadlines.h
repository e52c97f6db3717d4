// When a session's next read must end, whatever the client trickles: the
// per-record deadlines of Postfix's smtpd_per_record_deadline, without I/O.
// A command line must be complete within command_timeout of the previous
// reply; content (DATA, a BDAT chunk) starts with data_timeout and each read
// of N bytes earns N / min_data_rate seconds, never more than data_timeout
// ahead; the whole session ends after max_session_time. Under stress both
// timeouts shrink to stress_timeout. Pure: the clock is passed in.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>

namespace sluice::server {

struct DeadlineOptions {
  std::chrono::seconds command_timeout{300};
  std::chrono::seconds data_timeout{600};
  size_t min_data_rate = 500;  // bytes per second
  std::chrono::seconds max_session_time{3600};
  std::chrono::seconds stress_timeout{10};
};

class Deadlines {
 public:
  using Clock = std::chrono::steady_clock;
  enum class Kind { kCommand, kData, kSession };  // what expires first

  Deadlines(const DeadlineOptions& o, Clock::time_point start)
      : o_(o), session_end_(start + o.max_session_time), answered_(start) {}

  // A reply went out: the clock of the next command starts.
  void Answered(Clock::time_point now) { answered_ = now; }
  // Content begins (after 354, or a BDAT chunk).
  void DataStarted(Clock::time_point now) {
    data_end_ = now + o_.data_timeout;
    last_data_ = now;
  }
  // `bytes` of content arrived: they buy time at min_data_rate.
  void DataRead(Clock::time_point now, size_t bytes) {
    auto earned = std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>(static_cast<double>(bytes) / static_cast<double>(o_.min_data_rate)));
    data_end_ = std::min(data_end_ + earned, now + o_.data_timeout);
    last_data_ = now;
  }

  struct Next {
    Clock::duration timeout;  // how long the next read may wait (0: expired)
    Kind kind;
  };
  Next NextRead(Clock::time_point now, bool in_data, bool stressed) const {
    Clock::time_point end;
    Kind kind;
    if (in_data) {
      end = stressed ? std::min(data_end_, last_data_ + o_.stress_timeout) : data_end_;
      kind = Kind::kData;
    } else {
      end = answered_ + (stressed ? std::min(o_.command_timeout, o_.stress_timeout) : o_.command_timeout);
      kind = Kind::kCommand;
    }
    if (session_end_ <= end) {
      end = session_end_;
      kind = Kind::kSession;
    }
    return {end > now ? end - now : Clock::duration::zero(), kind};
  }

 private:
  DeadlineOptions o_;
  Clock::time_point session_end_;
  Clock::time_point answered_;
  Clock::time_point data_end_{};
  Clock::time_point last_data_{};
};

}  // namespace sluice::server
