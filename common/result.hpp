#pragma once
/// Errors as values: a small `result<T>` in the spirit of abseil's StatusOr
/// and CAF's expected (C++20 has no std::expected).

#include <string>
#include <utility>
#include <variant>

namespace hydra {

/// What the caller should do next decides the code (see STYLE.md).
enum class errc {
  invalid_input,  ///< reject with a clear message; retrying will not help
  not_found,      ///< a named file, peer or entry does not exist
  io,             ///< the OS refused: permissions, disk, short read
  unavailable,    ///< try again later (peer gone, connection refused)
  deadline,       ///< a wait ran out of time; back off
  internal,       ///< our bug
};

const char* to_string(errc c);

/// An error: a code plus a message meant for a human ("file: problem").
struct error {
  errc code = errc::internal;
  std::string message;
};

inline error make_error(errc c, std::string msg) { return error{c, std::move(msg)}; }

/// Either a value or an error. Check with `if (r)` before `*r`.
template <class T>
class [[nodiscard]] result {
 public:
  result(T value) : v_(std::move(value)) {}
  result(error e) : v_(std::move(e)) {}

  explicit operator bool() const { return v_.index() == 0; }
  bool ok() const { return v_.index() == 0; }

  T& operator*() & { return std::get<0>(v_); }
  const T& operator*() const& { return std::get<0>(v_); }
  T&& operator*() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &std::get<0>(v_); }
  const T* operator->() const { return &std::get<0>(v_); }

  const error& err() const { return std::get<1>(v_); }

 private:
  std::variant<T, error> v_;
};

/// `result<void>`: success or an error.
template <>
class [[nodiscard]] result<void> {
 public:
  result() = default;
  result(error e) : e_(std::move(e)), failed_(true) {}
  explicit operator bool() const { return !failed_; }
  bool ok() const { return !failed_; }
  const error& err() const { return e_; }

 private:
  error e_;
  bool failed_ = false;
};

using status = result<void>;

}  // namespace hydra
