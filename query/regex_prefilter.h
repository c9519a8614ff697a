// RegexPrefilter: the texts a regex cannot match without (RE2's FilteredRE2
// "atoms"), looked for in a block's message templates and then in each
// row's, so that a regex question rebuilds and tests only the messages of
// the rows that may match, as a text question does with its text
// (store/block.h, BlockReadOptions::messages_containing and
// templates_filter).
//
// FilteredRE2 turns a regex into an AND/OR tree of lower-case atoms that a
// matching text must contain ("Payment(Timeout|Declined)" needs
// "paymenttimeout" or "paymentdeclined"). A template keeps every byte of its
// message but the numbers, so an atom without digits that a message holds is
// in its template too; an atom the templates cannot show (one with a digit,
// a byte 0-2 or a byte above 0x7F, which RE2 may have lowered differently
// from ASCII) is counted as present. So a block the prefilter turns down has
// no message the regex matches.
#ifndef FIELDLOG_QUERY_REGEX_PREFILTER_H_
#define FIELDLOG_QUERY_REGEX_PREFILTER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "re2/filtered_re2.h"
#include "re2/re2.h"
#include "store/block.h"

namespace fieldlog::query {

class RegexPrefilter final : public store::TemplatesFilter {
 public:
  // Null when the regex needs no atom to match (".*", "a|b"): nothing to
  // filter on. The regex must be valid.
  static std::unique_ptr<RegexPrefilter> Make(absl::string_view regex,
                                              const RE2::Options& options);

  bool MayMatch(absl::string_view templates) const override;

 private:
  // Up to this many atoms, every answer is computed when the prefilter is
  // made (2^n of them), so that MayMatch, asked about every row of the blocks
  // that pass, allocates nothing.
  static constexpr size_t kMaxTableAtoms = 8;

  RegexPrefilter() = default;

  re2::FilteredRE2 filtered_{/*min_atom_len=*/3};
  std::vector<std::string> atoms_;
  std::vector<int> always_present_;  // ids of the atoms a template cannot show
  // With at most kMaxTableAtoms atoms: bit i of always_mask_ for each atom a
  // template cannot show, and passes_[mask] whether the regex may match a
  // text holding the atoms of `mask` (always_mask_ included); else empty.
  uint32_t always_mask_ = 0;
  std::vector<bool> passes_;
};

}  // namespace fieldlog::query

#endif  // FIELDLOG_QUERY_REGEX_PREFILTER_H_
