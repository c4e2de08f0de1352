"""The apps, load clients and helpers the benchmarks run."""
