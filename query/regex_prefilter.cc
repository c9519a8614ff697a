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
  if (prefilter->atoms_.size() <= kMaxTableAtoms) {
    for (const int id : prefilter->always_present_) prefilter->always_mask_ |= 1u << id;
    const uint32_t masks = 1u << prefilter->atoms_.size();
    prefilter->passes_.resize(masks);
    std::vector<int> present;
    std::vector<int> potential;
    for (uint32_t mask = 0; mask < masks; ++mask) {
      present.clear();
      for (size_t i = 0; i < prefilter->atoms_.size(); ++i) {
        if (((mask | prefilter->always_mask_) >> i & 1) != 0)
          present.push_back(static_cast<int>(i));
      }
      potential.clear();
      prefilter->filtered_.AllPotentials(present, &potential);
      prefilter->passes_[mask] = !potential.empty();
    }
  }
  return prefilter;
}

bool RegexPrefilter::MayMatch(absl::string_view templates) const {
  if (!passes_.empty()) {
    // The atoms combine by AND and OR only, so an answer that is yes stays
    // yes with more atoms present: the search stops there.
    uint32_t mask = always_mask_;
    if (passes_[mask]) return true;
    for (size_t i = 0; i < atoms_.size(); ++i) {
      if ((mask >> i & 1) == 0 && FindIgnoreCase(templates, atoms_[i]) != absl::string_view::npos) {
        mask |= 1u << i;
        if (passes_[mask]) return true;
      }
    }
    return false;
  }
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
