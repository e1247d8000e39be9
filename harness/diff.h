#pragma once
// The diff's public API lives in harness/diff/diff.h; this name is kept for its includers.
#include "harness/diff/diff.h"
