#include "common/text.h"

#include <random>
#include <string>
#include <vector>

#include "common/time_util.h"
#include "gtest/gtest.h"

namespace fieldlog {
namespace {

TEST(Utf8Test, AcceptsWellFormedText) {
  EXPECT_FALSE(FindInvalidUtf8(""));
  EXPECT_FALSE(FindInvalidUtf8("plain ascii"));
  EXPECT_FALSE(FindInvalidUtf8("Zahlung fehlgeschlagen: \xC3\xBC \xE2\x82\xAC \xF0\x9F\x92\xB3"));
}

TEST(Utf8Test, PointsAtTheFirstBadByte) {
  EXPECT_EQ(FindInvalidUtf8("ab\xFF"), 2u);
  EXPECT_EQ(FindInvalidUtf8("\xC3"), 0u);                // truncated sequence
  EXPECT_EQ(FindInvalidUtf8("x\xC0\xAF"), 1u);           // overlong '/'
  EXPECT_EQ(FindInvalidUtf8("\xED\xA0\x80"), 0u);        // UTF-16 surrogate
  EXPECT_EQ(FindInvalidUtf8("ok\xF4\x90\x80\x80"), 2u);  // above U+10FFFF
}

// FindInvalidUtf8 skips ASCII eight bytes at a time: a bad byte or a
// multi-byte sequence at any offset, inside or across those words, and text
// of every length around them, must give the same answers as byte by byte.
TEST(Utf8Test, AsciiFastPathFindsBadBytesAtEveryOffset) {
  for (size_t length = 0; length < 40; ++length) {
    const std::string ascii(length, 'a');
    EXPECT_FALSE(FindInvalidUtf8(ascii)) << length;
    for (size_t at = 0; at < length; ++at) {
      std::string bad = ascii;
      bad[at] = '\xFF';
      EXPECT_EQ(FindInvalidUtf8(bad), at) << length << " " << at;
      std::string good = ascii;
      good.insert(at, "\xE2\x82\xAC");  // a euro sign
      EXPECT_FALSE(FindInvalidUtf8(good)) << length << " " << at;
      good.push_back('\xC3');  // then a truncated sequence at the end
      EXPECT_EQ(FindInvalidUtf8(good), length + 3) << length << " " << at;
    }
  }
}

TEST(Utf8Test, SanitizeReplacesOnlyBadBytes) {
  EXPECT_EQ(SanitizeUtf8("a\xFF"
                         "b"),
            "a\xEF\xBF\xBD"
            "b");
  EXPECT_EQ(SanitizeUtf8("\xC3\xBC"), "\xC3\xBC");
  EXPECT_FALSE(FindInvalidUtf8(SanitizeUtf8("\xC3\x28\xF0\x28\x8C\x28")));
}

TEST(TextTest, ControlCharacters) {
  EXPECT_TRUE(HasControlCharacter("a\nb"));
  EXPECT_TRUE(HasControlCharacter(std::string("a\0b", 3)));
  EXPECT_FALSE(HasControlCharacter("alice@example.com"));
}

TEST(TextTest, ContainsIgnoreCase) {
  EXPECT_TRUE(ContainsIgnoreCase("PaymentTimeout after 10s", "timeout"));
  EXPECT_TRUE(ContainsIgnoreCase("anything", ""));
  EXPECT_FALSE(ContainsIgnoreCase("Payment", "paymentx"));
  EXPECT_FALSE(ContainsIgnoreCase("time out", "timeout"));
  EXPECT_EQ(AsciiLower("MiXeD \xC3\x9C"), "mixed \xC3\x9C");
}

// FindIgnoreCase against the obvious search, over haystacks long enough for
// its 16-byte steps and the scalar tail, with case, near misses and bytes
// that OR 0x20 could confuse with letters ('@' and '`', 0xC1).
TEST(TextTest, FindIgnoreCaseAgreesWithPlainSearch) {
  const auto plain = [](absl::string_view haystack, absl::string_view needle) {
    const std::string h = AsciiLower(haystack);
    const size_t at = h.find(std::string(needle));
    return at == std::string::npos ? absl::string_view::npos : at;
  };
  std::mt19937 random(7);
  const std::string alphabet = "aAbB-@`\xC1 7";
  const std::vector<std::string> needles = {"a",  "ab",  "b-a",    "@a",
                                            "`b", "ab7", "bab-ab", "aaaaaaaaaaaaaaaaa"};
  for (int round = 0; round < 3000; ++round) {
    std::string haystack(random() % 70, ' ');
    for (char& c : haystack) c = alphabet[random() % alphabet.size()];
    for (const std::string& needle : needles) {
      ASSERT_EQ(FindIgnoreCase(haystack, needle), plain(haystack, needle))
          << "'" << haystack << "' / '" << needle << "'";
    }
  }
  EXPECT_EQ(FindIgnoreCase(std::string(40, 'x') + "PaymentTimeOut", "paymenttimeout"), 40u);
  EXPECT_EQ(FindIgnoreCase("PAYMENT@", "payment`"), absl::string_view::npos);
  EXPECT_EQ(FindIgnoreCase("abc", ""), 0u);
}

TEST(TimeTest, HumanDurations) {
  EXPECT_EQ(*ParseHumanDuration("90s"), absl::Seconds(90));
  EXPECT_EQ(*ParseHumanDuration("2h"), absl::Hours(2));
  EXPECT_EQ(*ParseHumanDuration("7d"), absl::Hours(168));
  EXPECT_EQ(*ParseHumanDuration("1d12h"), absl::Hours(36));
  EXPECT_FALSE(ParseHumanDuration("soon").ok());
  EXPECT_FALSE(ParseHumanDuration("").ok());
  EXPECT_FALSE(ParseHumanDuration("-5m").ok());
}

TEST(TimeTest, Rfc3339RoundTrip) {
  const int64_t t = 1795000000123456;
  EXPECT_EQ(*ParseRfc3339(FormatRfc3339(t)), t);
  EXPECT_EQ(*ParseRfc3339("2026-11-22T10:00:00+01:00"), *ParseRfc3339("2026-11-22T09:00:00Z"));
  EXPECT_FALSE(ParseRfc3339("yesterday").ok());
}

}  // namespace
}  // namespace fieldlog
