"""The benchmarks of `make bench`: open-loop load on the real stack, honest numbers."""
