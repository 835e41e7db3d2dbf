"""The durable job queue's figures: plait beside a hand-written baseline.

Multi-process and server-backed, so it runs beside the harness rather than
inside its per-coroutine timing. ``python -m benchmarks.jobs`` (the numbers
in ``docs/performance.md``, about 15 minutes) or ``--quick`` (CI: small
sizes, under a minute; checks itself, not timings). PostgreSQL comes from
``$PLAIT_TEST_POSTGRES_DSN`` (start one with ``eval "$(bash
.ci/postgres.sh)"``); without it the PostgreSQL cases are skipped.

Cases (``--only``): ``processing`` (processing-only throughput of plait and
of the hand-written baseline in ``_baseline.py``, 1 and 3 worker
processes), ``latency`` (submit to handler start, idle and under load),
``admin`` (the admin API's queries on a large table), and the submit-side
cases ``tracked``, ``enqueue``, ``submit`` (submit+work) and
``procrastinate``. Every figure is checked: all jobs done, each once.
"""
