// Status and Result: how stages report failure without exceptions
// (doc/design.md, convention 5). OK is cheap: no allocation.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace sluice {

class Status {
 public:
  enum class Code {
    kOk,
    kInvalidArgument,  // bad input from a caller or a file
    kNotFound,
    kIoError,          // storage or network failure; usually worth a retry
    kNoSpace,          // disk full: a 452 4.3.1 at the edge
    kUnavailable,      // a peer or back end is down or saturated
    kCorruption,       // a checksum or format check failed
  };

  Status() = default;
  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string m) { return {Code::kInvalidArgument, std::move(m)}; }
  static Status NotFound(std::string m) { return {Code::kNotFound, std::move(m)}; }
  static Status IoError(std::string m) { return {Code::kIoError, std::move(m)}; }
  static Status NoSpace(std::string m) { return {Code::kNoSpace, std::move(m)}; }
  static Status Unavailable(std::string m) { return {Code::kUnavailable, std::move(m)}; }
  static Status Corruption(std::string m) { return {Code::kCorruption, std::move(m)}; }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  std::string ToString() const;

 private:
  Status(Code c, std::string m) : code_(c), message_(std::move(m)) {}
  Code code_ = Code::kOk;
  std::string message_;
};

// A value or the Status that explains why there is none.
template <class T>
class Result {
 public:
  // Asio needs a default for a result lost to an exception; it is an error.
  Result() : v_(Status::IoError("no result")) {}
  Result(T value) : v_(std::move(value)) {}          // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {}   // NOLINT: must not be OK

  bool ok() const { return std::holds_alternative<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T& value() & { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }

 private:
  std::variant<T, Status> v_;
};

}  // namespace sluice
