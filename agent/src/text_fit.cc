#include "agent/src/text_fit.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/text.h"

namespace fieldlog::agent {
namespace {

absl::string_view ToAbsl(std::string_view s) { return {s.data(), s.size()}; }

bool IsContinuation(char c) { return (static_cast<uint8_t>(c) & 0xC0) == 0x80; }

bool IsEmailLocal(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '%' ||
         c == '+' || c == '-';
}
bool IsEmailDomain(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-';
}
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

bool LuhnValid(std::string_view digits) {
  int sum = 0;
  bool twice = false;
  for (size_t i = digits.size(); i-- > 0;) {
    int d = digits[i] - '0';
    if (twice) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    twice = !twice;
  }
  return sum % 10 == 0;
}

// The end of an e-mail address whose '@' is at `at`, or npos.
size_t EmailAt(std::string_view text, size_t at, size_t* begin) {
  size_t b = at;
  while (b > 0 && IsEmailLocal(text[b - 1])) --b;
  if (b == at) return std::string_view::npos;
  size_t e = at + 1;
  while (e < text.size() && IsEmailDomain(text[e])) ++e;
  while (e > at + 1 && (text[e - 1] == '.' || text[e - 1] == '-')) --e;
  const std::string_view domain = text.substr(at + 1, e - at - 1);
  const size_t dot = domain.rfind('.');
  if (dot == std::string_view::npos || dot == 0 || domain.size() - dot - 1 < 2) {
    return std::string_view::npos;
  }
  *begin = b;
  return e;
}

// The end of a card number starting at `i` (a digit not preceded by one),
// or npos.
size_t CardAt(std::string_view text, size_t i) {
  std::string digits;
  size_t e = i, last_digit_end = i;
  while (e < text.size() && digits.size() < 20) {
    if (IsDigit(text[e])) {
      digits.push_back(text[e]);
      last_digit_end = ++e;
    } else if ((text[e] == ' ' || text[e] == '-') && e + 1 < text.size() && IsDigit(text[e + 1]) &&
               e > i && IsDigit(text[e - 1])) {
      ++e;
    } else {
      break;
    }
  }
  if (digits.size() < 13 || digits.size() > 19) return std::string_view::npos;
  if (last_digit_end < text.size() && IsDigit(text[last_digit_end])) return std::string_view::npos;
  return LuhnValid(digits) ? last_digit_end : std::string_view::npos;
}

}  // namespace

void FitText(std::string_view prefix, size_t original_size, size_t max_bytes, std::string* out) {
  const bool valid = !FindInvalidUtf8(ToAbsl(prefix)).has_value();
  if (valid && original_size == prefix.size() && prefix.size() <= max_bytes) {
    out->append(prefix.data(), prefix.size());
    return;
  }
  std::string clean = valid ? std::string(prefix) : SanitizeUtf8(ToAbsl(prefix));
  const size_t total = std::max(original_size, clean.size());
  if (clean.size() <= max_bytes && original_size <= prefix.size()) {
    out->append(clean);
    return;
  }
  // Cut: keep as much as fits with the marker; the marker counts the bytes
  // of the original that are gone.
  size_t keep = 0;
  std::string marker;
  for (int round = 0; round < 2; ++round) {
    marker = absl::StrCat(" \xE2\x80\xA6[cut ", total - std::min(total, keep), " bytes]");
    keep = max_bytes > marker.size() ? std::min(clean.size(), max_bytes - marker.size()) : 0;
    while (keep > 0 && keep < clean.size() && IsContinuation(clean[keep])) --keep;
  }
  marker = absl::StrCat(" \xE2\x80\xA6[cut ", total - std::min(total, keep), " bytes]");
  out->append(clean.data(), keep);
  if (keep + marker.size() <= max_bytes) out->append(marker);
}

void FitId(std::string_view id, size_t max_bytes, std::string* out) {
  std::string clean = SanitizeUtf8(ToAbsl(id));
  std::erase_if(clean, [](char c) { return static_cast<uint8_t>(c) < 0x20 || c == 0x7F; });
  size_t keep = std::min(clean.size(), max_bytes);
  while (keep > 0 && keep < clean.size() && IsContinuation(clean[keep])) --keep;
  out->append(clean.data(), keep);
}

bool ScrubPii(std::string_view text, std::string* out) {
  std::string result;
  size_t copied = 0;
  bool changed = false;
  for (size_t i = 0; i < text.size(); ++i) {
    size_t begin = i, end = std::string_view::npos;
    const char* replacement = nullptr;
    if (text[i] == '@') {
      end = EmailAt(text, i, &begin);
      replacement = "[email]";
      if (begin < copied) end = std::string_view::npos;
    } else if (IsDigit(text[i]) && (i == 0 || !IsDigit(text[i - 1]))) {
      end = CardAt(text, i);
      replacement = "[card]";
    }
    if (end == std::string_view::npos) continue;
    if (!changed) result.reserve(text.size());
    changed = true;
    result.append(text.data() + copied, begin - copied);
    result += replacement;
    copied = end;
    i = end - 1;
  }
  if (!changed) return false;
  result.append(text.data() + copied, text.size() - copied);
  *out = std::move(result);
  return true;
}

}  // namespace fieldlog::agent
