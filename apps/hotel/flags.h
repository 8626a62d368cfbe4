// Command-line flags of the form "--name value", for the hotel programs.
#ifndef NOTNETS_APPS_HOTEL_FLAGS_H_
#define NOTNETS_APPS_HOTEL_FLAGS_H_

#include <cstdint>
#include <map>
#include <string>

namespace hotel {

// The flags of one command line; each getter returns the flag's value or `fallback` when absent.
class Flags {
 public:
  // Parses argv; false (with a message on stderr) if an argument is not "--name value".
  bool Parse(int argc, char** argv);

  std::string String(const std::string& name, const std::string& fallback) const;
  // Exits with a message when the value is not a number.
  int64_t Int(const std::string& name, int64_t fallback) const;
  double Double(const std::string& name, double fallback) const;

 private:
  std::map<std::string, std::string> values_;
};

}  // namespace hotel

#endif  // NOTNETS_APPS_HOTEL_FLAGS_H_
