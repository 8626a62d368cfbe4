// Parsing of the notnets command's numeric arguments, stricter than CLI11's: a value that does not
// fit is an error, never a wrapped-around one.
#ifndef NOTNETS_TOOLS_NOTNETS_ARGUMENTS_H_
#define NOTNETS_TOOLS_NOTNETS_ARGUMENTS_H_

#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>

namespace notnets::tool {

// Parses decimal digits with an optional k, m or g suffix into `bytes`; false for anything else,
// or a value that does not fit in 64 bits (it must not wrap around to a small size).
bool ParseSize(const std::string& text, uint64_t* bytes);

// Parses a decimal count in [1, 2^32 - 1] into `count`; false for anything else.
bool ParseCount(const std::string& text, uint32_t* count);

// Parses octal file permission bits ("660", "0666") into `mode`; false for anything else, or
// bits past 0777.
bool ParseMode(const std::string& text, uint32_t* mode);

// The longest `top --interval` and `ping --timeout`: a longer wait is a typo, and a huge count of
// seconds would overflow the clock's ticks it is converted to.
constexpr int kMaxSeconds = 3600;

// Checks an option's value is seconds in (0, kMaxSeconds]. CLI::PositiveNumber and CLI::Range would
// let "nan" through: every comparison with NaN is false.
CLI::Validator Seconds();

}  // namespace notnets::tool

#endif  // NOTNETS_TOOLS_NOTNETS_ARGUMENTS_H_
