#include "query/regex_prefilter.h"

#include "common/text.h"

namespace fieldlog::query {

std::unique_ptr<RegexPrefilter> RegexPrefilter::Make(absl::string_view regex,
                                                     const RE2::Options& options) {
  std::unique_ptr<RegexPrefilter> prefilter(new RegexPrefilter());
  int id;
  if (prefilter->filtered_.Add(re2::StringPiece(regex.data(), regex.size()), options, &id) !=
      RE2::NoError) {
    return nullptr;
  }
  prefilter->filtered_.Compile(&prefilter->atoms_);
  if (prefilter->atoms_.empty()) return nullptr;
  for (size_t i = 0; i < prefilter->atoms_.size(); ++i) {
    for (const char c : prefilter->atoms_[i]) {
      const auto byte = static_cast<uint8_t>(c);
      if ((byte >= '0' && byte <= '9') || byte <= 2 || byte >= 0x80) {
        prefilter->always_present_.push_back(static_cast<int>(i));
        break;
      }
    }
  }
  return prefilter;
}

bool RegexPrefilter::MayMatch(absl::string_view templates) const {
  std::vector<int> present = always_present_;
  for (size_t i = 0; i < atoms_.size(); ++i) {
    if (FindIgnoreCase(templates, atoms_[i]) != absl::string_view::npos) {
      present.push_back(static_cast<int>(i));
    }
  }
  std::vector<int> potential;
  filtered_.AllPotentials(present, &potential);
  return !potential.empty();
}

}  // namespace fieldlog::query
