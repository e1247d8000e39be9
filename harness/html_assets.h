#pragma once
// report.html's stylesheet and script, written into the page itself (it loads nothing).

namespace tw {

// The page's CSS: the contents of its <style> element.
extern const char* const kHtmlStyle;

// The page's script: opens a cell's panel when its matrix entry is followed (and when the page is
// loaded with its #fragment), and marks the page as rendered so headless checks can see it ran.
extern const char* const kHtmlScript;

}  // namespace tw
