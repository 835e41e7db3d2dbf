"""Studies: prototypes and measurements that inform plait, not part of the suite.

Each runs on its own: ``python -m benchmarks.studies.<name>``.
"""
