#include "rpc/method_table.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace notnets::internal {
namespace {

TEST(MethodTableTest, FindsEveryNameOfEveryLength) {
  std::vector<std::string> names;
  for (size_t length = 0; length <= 40; ++length) {
    std::string name(length, 'm');
    if (length > 0) name.back() = 'x';
    names.push_back(name);
  }
  MethodTable table(names);
  for (uint32_t i = 0; i < names.size(); ++i) EXPECT_EQ(table.Find(names[i]), i) << names[i];
}

TEST(MethodTableTest, UnknownNamesAreNotFound) {
  MethodTable table({"Echo", "/helloworld.Greeter/SayHello", "Sleep"});
  EXPECT_EQ(table.Find("Echo"), 0u);
  EXPECT_EQ(table.Find("/helloworld.Greeter/SayHello"), 1u);
  EXPECT_EQ(table.Find("Sleep"), 2u);
  for (std::string_view unknown : {"", "echo", "Ech", "Echo ", "/helloworld.Greeter/SayHellO"}) {
    EXPECT_EQ(table.Find(unknown), MethodTable::kNotFound) << unknown;
  }
  EXPECT_EQ(MethodTable().Find("Echo"), MethodTable::kNotFound);
  EXPECT_EQ(MethodTable(std::vector<std::string>()).Find(""), MethodTable::kNotFound);
}

TEST(MethodTableTest, NamesThatDifferOnlyInTheirMiddleOrEnd) {
  // Same length and same first and last bytes: only the hash of the middle tells them apart.
  std::vector<std::string> names;
  for (char c = 'a'; c <= 'z'; ++c) names.push_back(std::string("/svc.S/") + c + "ethod");
  for (char c = 'a'; c <= 'z'; ++c) names.push_back(std::string("ab") + c + "d");
  MethodTable table(names);
  for (uint32_t i = 0; i < names.size(); ++i) EXPECT_EQ(table.Find(names[i]), i) << names[i];
}

TEST(MethodTableTest, OfTwoEqualNamesTheLaterWins) {
  // Names come from the directory, which a faulty server may fill with duplicates.
  MethodTable table({"A", "B", "A"});
  EXPECT_EQ(table.Find("A"), 2u);
  EXPECT_EQ(table.Find("B"), 1u);
}

}  // namespace
}  // namespace notnets::internal
