// trainwreck: the harness with the LibTorch training backend plugged in.
#include "backend/cell.h"

int main(int argc, char** argv) { return tw::trainwreck_main(argc, argv, tw::training_backend()); }
