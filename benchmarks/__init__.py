"""Side-by-side benchmarks: watchkit, the bare code and peer libraries in one run."""
