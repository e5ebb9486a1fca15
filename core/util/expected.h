// wotca::expected / wotca::unexpected: std::expected where the standard
// library has it (GCC 12's libstdc++ in C++23 mode), and a minimal stand-in
// otherwise. The stand-in exists only so that the libFuzzer build, which uses
// clang-14, can compile the core: clang-14 cannot instantiate libstdc++-12's
// <expected>. It implements the subset of the interface the project uses and
// nothing else; code must not rely on more than std::expected offers.
#pragma once

#include <version>
#if defined(__cpp_lib_expected)
#include <expected>
namespace wotca {
using std::expected;
using std::unexpected;
}  // namespace wotca
#else
#include <cstdlib>
#include <type_traits>
#include <utility>
#include <variant>

namespace wotca {

template <class E>
class unexpected {
 public:
  constexpr explicit unexpected(E e) : error_(std::move(e)) {}
  constexpr const E& error() const& noexcept { return error_; }
  constexpr E& error() & noexcept { return error_; }
  constexpr E&& error() && noexcept { return std::move(error_); }

 private:
  E error_;
};
template <class E>
unexpected(E) -> unexpected<E>;

template <class T, class E>
class expected {
 public:
  using value_type = T;
  using error_type = E;

  constexpr expected() requires std::is_default_constructible_v<T> : v_(std::in_place_index<0>) {}
  template <class U = T>
    requires(std::is_constructible_v<T, U &&> &&
             !std::is_same_v<std::remove_cvref_t<U>, expected> &&
             !std::is_same_v<std::remove_cvref_t<U>, unexpected<E>>)
  constexpr expected(U&& u) : v_(std::in_place_index<0>, std::forward<U>(u)) {}
  template <class G>
  constexpr expected(const unexpected<G>& u) : v_(std::in_place_index<1>, u.error()) {}
  template <class G>
  constexpr expected(unexpected<G>&& u) : v_(std::in_place_index<1>, std::move(u).error()) {}

  constexpr bool has_value() const noexcept { return v_.index() == 0; }
  constexpr explicit operator bool() const noexcept { return has_value(); }
  constexpr T& operator*() & { return std::get<0>(v_); }
  constexpr const T& operator*() const& { return std::get<0>(v_); }
  constexpr T&& operator*() && { return std::get<0>(std::move(v_)); }
  constexpr T* operator->() { return &std::get<0>(v_); }
  constexpr const T* operator->() const { return &std::get<0>(v_); }
  constexpr T& value() & { return check(), std::get<0>(v_); }
  constexpr const T& value() const& { return check(), std::get<0>(v_); }
  constexpr T&& value() && { return check(), std::get<0>(std::move(v_)); }
  constexpr E& error() & { return std::get<1>(v_); }
  constexpr const E& error() const& { return std::get<1>(v_); }
  constexpr E&& error() && { return std::get<1>(std::move(v_)); }
  template <class U>
  constexpr T value_or(U&& u) const& {
    return has_value() ? std::get<0>(v_) : static_cast<T>(std::forward<U>(u));
  }

 private:
  constexpr void check() const {
    if (!has_value()) std::abort();
  }
  std::variant<T, E> v_;
};

template <class E>
class expected<void, E> {
 public:
  using value_type = void;
  using error_type = E;

  constexpr expected() noexcept = default;
  template <class G>
  constexpr expected(const unexpected<G>& u) : e_(u.error()), ok_(false) {}
  template <class G>
  constexpr expected(unexpected<G>&& u) : e_(std::move(u).error()), ok_(false) {}

  constexpr bool has_value() const noexcept { return ok_; }
  constexpr explicit operator bool() const noexcept { return ok_; }
  constexpr void operator*() const noexcept {}
  constexpr void value() const {
    if (!ok_) std::abort();
  }
  constexpr E& error() & { return e_; }
  constexpr const E& error() const& { return e_; }
  constexpr E&& error() && { return std::move(e_); }

 private:
  E e_{};
  bool ok_ = true;
};

}  // namespace wotca
#endif
