# The LibTorch side: training kernel, faults, mitigations, and the trainwreck executable.
find_package(Torch REQUIRED)
