#include "harness/text_util.h"

namespace tw {

namespace {

// The length of the valid UTF-8 sequence at s[i], or 0 when none starts there.
std::size_t sequence_at(const std::string& s, std::size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  const std::size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
  bool ok = len > 0 && i + len <= s.size();
  for (std::size_t k = 1; ok && k < len; ++k) ok = (static_cast<unsigned char>(s[i + k]) & 0xC0) == 0x80;
  if (ok && len > 1) {
    // Overlong forms, surrogates and code points past U+10FFFF are not UTF-8 either.
    unsigned cp = c & (0x7F >> len);
    for (std::size_t k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
    const unsigned min[] = {0, 0, 0x80, 0x800, 0x10000};
    ok = cp >= min[len] && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF) && cp != 0xFFFE && cp != 0xFFFF;
  }
  return ok ? len : 0;
}

}  // namespace

bool xml_forbidden_control(unsigned char c) { return c < 0x20 && c != '\n' && c != '\t' && c != '\r'; }

std::string escape_markup(const std::string& s, const char* apostrophe, const char* forbidden) {
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += apostrophe; break;
      default:
        // XML 1.0 forbids most control characters even when escaped.
        if (xml_forbidden_control(c)) out += forbidden;
        else out += static_cast<char>(c);
    }
  }
  return out;
}

std::string xml_escape(const std::string& s) { return escape_markup(s, "&apos;", "?"); }

std::string valid_utf8(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t len = sequence_at(s, i);
    if (len > 0) {
      out.append(s, i, len);
      i += len;
    } else {
      out += '?';
      ++i;
    }
  }
  return out;
}

std::size_t utf8_length(const std::string& s) {
  std::size_t n = 0;
  for (std::size_t i = 0; i < s.size(); ++n) {
    const std::size_t len = sequence_at(s, i);
    i += len > 0 ? len : 1;
  }
  return n;
}

std::string utf8_shorten(const std::string& s, std::size_t n) {
  if (utf8_length(s) <= n) return s;
  if (n == 0) return "";
  std::size_t i = 0;
  for (std::size_t kept = 0; kept + 1 < n && i < s.size(); ++kept) {
    const std::size_t len = sequence_at(s, i);
    i += len > 0 ? len : 1;
  }
  return s.substr(0, i) + "\u2026";
}

}  // namespace tw
