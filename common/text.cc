#include "common/text.h"

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "absl/strings/string_view.h"

namespace fieldlog {
namespace {

// Length of the well-formed UTF-8 sequence starting at text[i], or 0.
size_t Utf8SequenceLength(absl::string_view text, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<uint8_t>(text[k]); };
  const uint8_t lead = byte(i);
  if (lead < 0x80) return 1;
  size_t length;
  uint8_t min_second = 0x80, max_second = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) min_second = 0xA0;  // overlong
    if (lead == 0xED) max_second = 0x9F;  // surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) min_second = 0x90;  // overlong
    if (lead == 0xF4) max_second = 0x8F;  // above U+10FFFF
  } else {
    return 0;
  }
  if (i + length > text.size()) return 0;
  if (byte(i + 1) < min_second || byte(i + 1) > max_second) return 0;
  for (size_t k = 2; k < length; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
  }
  return length;
}

}  // namespace

std::optional<size_t> FindInvalidUtf8(absl::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    // Fast path over ASCII, eight bytes at a time: log text is mostly ASCII,
    // and the collector checks every byte of every message it stores.
    while (i + 8 <= text.size()) {
      uint64_t word;
      std::memcpy(&word, text.data() + i, 8);
      if ((word & 0x8080808080808080ull) != 0) break;
      i += 8;
    }
    if (i == text.size()) break;
    if (static_cast<uint8_t>(text[i]) < 0x80) {
      ++i;
      continue;
    }
    const size_t length = Utf8SequenceLength(text, i);
    if (length == 0) return i;
    i += length;
  }
  return std::nullopt;
}

bool HasControlCharacter(absl::string_view text) {
  return std::any_of(text.begin(), text.end(), [](char c) {
    const auto u = static_cast<uint8_t>(c);
    return u < 0x20 || u == 0x7F;
  });
}

std::string SanitizeUtf8(absl::string_view text) {
  if (!FindInvalidUtf8(text)) return std::string(text);
  std::string out;
  out.reserve(text.size() + 8);
  size_t i = 0;
  while (i < text.size()) {
    const size_t length = Utf8SequenceLength(text, i);
    if (length == 0) {
      out += "\xEF\xBF\xBD";  // U+FFFD REPLACEMENT CHARACTER
      ++i;
    } else {
      out.append(text.data() + i, length);
      i += length;
    }
  }
  return out;
}

std::string AsciiLower(absl::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

namespace {

char LowerAscii(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

// Whether haystack[0, n) equals the lower-case `needle` ignoring ASCII case.
bool EqualsIgnoreCase(const char* haystack, const char* needle, size_t n) {
  for (size_t k = 0; k < n; ++k) {
    if (LowerAscii(haystack[k]) != needle[k]) return false;
  }
  return true;
}

// The bits a byte is OR-ed with before it is compared with `lowered`: 0x20
// for a letter, which maps 'A'-'Z' onto 'a'-'z' and no other byte onto a
// letter, so the comparison is exact; none for anything else.
char FoldBits(char lowered) { return (lowered >= 'a' && lowered <= 'z') ? 0x20 : 0; }

}  // namespace

size_t FindIgnoreCase(absl::string_view haystack, absl::string_view lowered_needle) {
  const size_t m = lowered_needle.size();
  if (m == 0) return 0;
  if (haystack.size() < m) return absl::string_view::npos;
  const char* const h = haystack.data();
  const char* const needle = lowered_needle.data();
  const size_t last_start = haystack.size() - m;
  size_t i = 0;
#ifdef __SSE2__
  // Candidates are the positions whose first and last bytes match the
  // needle's (Mula's "generic SIMD" substring search); the bytes between are
  // compared only for those.
  const __m128i first = _mm_set1_epi8(needle[0]);
  const __m128i last = _mm_set1_epi8(needle[m - 1]);
  const __m128i first_fold = _mm_set1_epi8(FoldBits(needle[0]));
  const __m128i last_fold = _mm_set1_epi8(FoldBits(needle[m - 1]));
  for (; i + 16 <= last_start + 1; i += 16) {
    const __m128i a =
        _mm_or_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(h + i)), first_fold);
    const __m128i b =
        _mm_or_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(h + i + m - 1)), last_fold);
    unsigned bits = static_cast<unsigned>(
        _mm_movemask_epi8(_mm_and_si128(_mm_cmpeq_epi8(a, first), _mm_cmpeq_epi8(b, last))));
    while (bits != 0) {
      const size_t at = i + static_cast<size_t>(__builtin_ctz(bits));
      if (EqualsIgnoreCase(h + at + 1, needle + 1, m - 1)) return at;
      bits &= bits - 1;
    }
  }
#endif
  for (; i <= last_start; ++i) {
    if (LowerAscii(h[i]) == needle[0] && EqualsIgnoreCase(h + i + 1, needle + 1, m - 1)) return i;
  }
  return absl::string_view::npos;
}

bool ContainsIgnoreCase(absl::string_view haystack, absl::string_view lowered_needle) {
  return FindIgnoreCase(haystack, lowered_needle) != absl::string_view::npos;
}

}  // namespace fieldlog
