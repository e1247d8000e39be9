// The harness with no training backend: self-test cells only. Used by the harness tests so
// that isolation is proven without loading LibTorch.
#include "harness/backend.h"

int main(int argc, char** argv) { return tw::trainwreck_main(argc, argv, tw::Backend{}); }
