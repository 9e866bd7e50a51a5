"""Side-by-side benchmarks: ``python -m bench NAME`` (a plain baseline beside the suite's path, one process)."""
