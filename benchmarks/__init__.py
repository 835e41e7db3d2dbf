"""plait's benchmark harness.

Run ``python -m benchmarks --quick`` (CI: tiny N, a few seconds, fails only on
a broken harness or a failed self-check) or ``python -m benchmarks --full``
(the numbers in ``docs/performance.md``, about 20 minutes).

Layout: ``cases/`` holds one module per case family (the variants measured,
the cases they are measured in and the self-check of every sample);
``_worker`` runs samples in a fresh process; ``_runner`` interleaves them;
``_stats`` and ``_report`` turn them into ratios, a table and a plot.
"""
