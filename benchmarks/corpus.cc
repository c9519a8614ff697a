#include "benchmarks/corpus.h"

#include <cstdlib>
#include <fstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace fieldlog::bench {
namespace {

v1::Level AndroidLevel(char letter) {
  switch (letter) {
    case 'V':
      return v1::LEVEL_TRACE;
    case 'D':
      return v1::LEVEL_DEBUG;
    case 'W':
      return v1::LEVEL_WARN;
    case 'E':
      return v1::LEVEL_ERROR;
    case 'F':
      return v1::LEVEL_FATAL;
    default:
      return v1::LEVEL_INFO;
  }
}

// "03-17 16:13:38.811  1702  2395 D WindowManager: message"
void ParseAndroid(const std::string& path, std::vector<CorpusLine>* out) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    std::vector<absl::string_view> head =
        absl::StrSplit(line, absl::ByAnyChar(" "), absl::SkipEmpty());
    const size_t colon = line.find(": ");
    if (head.size() < 6 || colon == std::string::npos) continue;
    CorpusLine c;
    c.level = AndroidLevel(head[4].empty() ? 'I' : head[4][0]);
    c.tag = std::string(head[5].substr(0, head[5].find(':')));
    c.message = line.substr(colon + 2);
    out->push_back(std::move(c));
  }
}

// "20171223-22:15:29:606|Step_LSC|30002312|onStandStepChanged 3579"
void ParseHealthApp(const std::string& path, std::vector<CorpusLine>* out) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> parts = absl::StrSplit(line, absl::MaxSplits('|', 3));
    if (parts.size() < 4) continue;
    out->push_back({v1::LEVEL_INFO, parts[1], parts[3]});
  }
}

// "Jul  1 09:00:55 calvisitor-10-105-160-95 kernel[0]: message"
void ParseMac(const std::string& path, std::vector<CorpusLine>* out) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    const size_t colon = line.find(": ", 16);
    if (colon == std::string::npos) continue;
    const size_t space = line.rfind(' ', colon);
    std::string process = line.substr(space + 1, colon - space - 1);
    process = process.substr(0, process.find('['));
    const std::string message = line.substr(colon + 2);
    const bool error =
        message.find("rror") != std::string::npos || message.find("fail") != std::string::npos;
    out->push_back({error ? v1::LEVEL_ERROR : v1::LEVEL_INFO, process, message});
  }
}

}  // namespace

const std::vector<CorpusLine>& LoghubLines() {
  static const std::vector<CorpusLine> lines = [] {
    const char* dir = std::getenv("FIELDLOG_CORPUS_DIR");
    const std::string base = dir ? dir : FIELDLOG_CORPUS_DIR;
    std::vector<CorpusLine> all;
    ParseAndroid(base + "/Android_2k.log", &all);
    ParseHealthApp(base + "/HealthApp_2k.log", &all);
    ParseMac(base + "/Mac_2k.log", &all);
    if (all.empty()) all.push_back({v1::LEVEL_INFO, "Bench", "corpus not found at " + base});
    return all;
  }();
  return lines;
}

CorpusLine LineGenerator::Next() {
  const std::vector<CorpusLine>& lines = LoghubLines();
  CorpusLine line = lines[random_() % lines.size()];
  for (char& c : line.message) {
    if (absl::ascii_isdigit(c)) c = static_cast<char>('0' + random_() % 10);
  }
  return line;
}

}  // namespace fieldlog::bench
