// RegexPrefilter (query/regex_prefilter.h): turns down templates that lack
// what a regex needs, and never those of a message the regex matches,
// whatever the case, the numbers or the bytes templates cannot show.
#include "query/regex_prefilter.h"

#include <string>

#include "gtest/gtest.h"
#include "store/message_template.h"

namespace fieldlog::query {
namespace {

// The templates of `messages`, as a settled block stores them.
std::string Templates(const std::vector<std::string>& messages) {
  std::string templates;
  for (const std::string& m : messages) store::AppendMessageTemplate(m, &templates, nullptr);
  return templates;
}

std::unique_ptr<RegexPrefilter> Prefilter(const std::string& regex) {
  RE2::Options options;
  options.set_log_errors(false);
  return RegexPrefilter::Make(regex, options);
}

TEST(RegexPrefilterTest, TurnsDownTemplatesWithoutWhatTheRegexNeeds) {
  const std::unique_ptr<RegexPrefilter> payment = Prefilter("Payment(Timeout|Declined)");
  ASSERT_NE(payment, nullptr);
  EXPECT_TRUE(payment->MayMatch(Templates({"tap", "checkout: PaymentTimeout after 30 s"})));
  EXPECT_TRUE(payment->MayMatch(Templates({"PAYMENTDECLINED by bank 7"})))
      << "atoms are looked for in any case";
  EXPECT_FALSE(payment->MayMatch(Templates({"tap on button 12", "payment ok", "timeout"})));
  EXPECT_FALSE(payment->MayMatch(""));
}

TEST(RegexPrefilterTest, AtomsATemplateCannotShowCountAsPresent) {
  // "code 50" has digits: a template holds "code \x01" instead.
  const std::unique_ptr<RegexPrefilter> digits = Prefilter("code 50[0-9]");
  ASSERT_NE(digits, nullptr);
  EXPECT_TRUE(digits->MayMatch(Templates({"http code 503"})));
  // RE2 lowers non-ASCII letters; templates are compared in ASCII only.
  const std::unique_ptr<RegexPrefilter> umlaut = Prefilter("ÜBERWEISUNG");
  ASSERT_NE(umlaut, nullptr);
  EXPECT_TRUE(umlaut->MayMatch(Templates({"ÜBERWEISUNG fehlgeschlagen"})));
}

// AND and OR of atoms, through the answers computed up front (a few atoms)
// and through RE2's tree (more atoms than the table takes), alike.
TEST(RegexPrefilterTest, AtomsCombineAsTheRegexNeedsThemWithFewOrManyAtoms) {
  const std::unique_ptr<RegexPrefilter> few = Prefilter("(alpha|bravo).*charlie");
  ASSERT_NE(few, nullptr);
  EXPECT_TRUE(few->MayMatch(Templates({"alpha then charlie"})));
  EXPECT_TRUE(few->MayMatch(Templates({"BRAVO", "x", "Charlie"})));
  EXPECT_FALSE(few->MayMatch(Templates({"alpha and bravo"})));
  EXPECT_FALSE(few->MayMatch(Templates({"charlie alone"})));

  const std::unique_ptr<RegexPrefilter> many =
      Prefilter("(alpha|bravo|delta|echo|foxtrot|golf|hotel|india|juliett|kilo).*charlie");
  ASSERT_NE(many, nullptr);
  EXPECT_TRUE(many->MayMatch(Templates({"kilo then charlie"})));
  EXPECT_TRUE(many->MayMatch(Templates({"ECHO", "charlie"})));
  EXPECT_FALSE(many->MayMatch(Templates({"kilo and juliett"})));
  EXPECT_FALSE(many->MayMatch(Templates({"charlie alone"})));

  // One row's template, without its end byte, as blocks also ask.
  EXPECT_TRUE(few->MayMatch("bravo: charlie \x01 ms"));
  EXPECT_FALSE(few->MayMatch("bravo: \x01 ms"));
}

TEST(RegexPrefilterTest, RegexesThatNeedNoTextHaveNoPrefilter) {
  EXPECT_EQ(Prefilter(".*"), nullptr);
  EXPECT_EQ(Prefilter("^$"), nullptr);
  EXPECT_EQ(Prefilter("a|b"), nullptr);
}

}  // namespace
}  // namespace fieldlog::query
