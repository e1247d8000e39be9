#pragma once
// Text helpers shared by the renderers that write XML (JUnit, SVG figures) and HTML: cell
// output and names are raw bytes, and an XML file must be well-formed UTF-8 without the control
// characters XML 1.0 forbids.
#include <cstddef>
#include <string>

namespace tw {

// Text safe in XML element content and quoted attribute values: markup characters as entities,
// control characters XML 1.0 forbids (below U+0020 except tab, newline, carriage return) as '?'.
std::string xml_escape(const std::string& s);

// Invalid UTF-8 (a stray byte, a cut sequence, overlong forms, surrogates, U+FFFE/U+FFFF, past
// U+10FFFF) replaced by '?'; valid text unchanged.
std::string valid_utf8(const std::string& s);

// True for a control character XML 1.0 forbids even as a character reference.
bool xml_forbidden_control(unsigned char c);

// The five markup characters escaped (the apostrophe as `apostrophe`) and each control character
// XML forbids replaced by `forbidden`. xml_escape and html_escape are this with their choices.
std::string escape_markup(const std::string& s, const char* apostrophe, const char* forbidden);

// The number of characters (code points) in UTF-8 text; a byte of an invalid sequence counts as one.
std::size_t utf8_length(const std::string& s);

// At most `n` characters of UTF-8 text, cut between characters: a longer text keeps n - 1 and
// ends with an ellipsis ("…").
std::string utf8_shorten(const std::string& s, std::size_t n);

}  // namespace tw
