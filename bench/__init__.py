"""facteur's benchmarks: ``make bench`` runs every ``bench/bench_*.py`` module's ``main()``.

Each benchmark reports ratios against a baseline measured in the same run (never absolute timing
assertions) and writes its figures to ``artifacts/bench/<name>.json``.
"""
