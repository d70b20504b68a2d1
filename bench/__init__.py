"""Benchmarks (``make bench``): each figure against a baseline that really runs, interleaved with ours (see ``__main__``)."""
