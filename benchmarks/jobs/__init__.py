"""Durable job throughput: plait's SQLite and PostgreSQL engines, the in-process
TrackedBackend, and procrastinate on the same PostgreSQL server.

Multi-process and server-backed, so it runs beside the harness rather than
inside its per-coroutine timing: ``python -m benchmarks.jobs --n 10000``
(PostgreSQL from ``$PLAIT_TEST_POSTGRES_DSN``; start one with
``eval "$(bash .ci/postgres.sh)"``). ``--quick`` runs a small N as a smoke
test. Every figure is checked: all N jobs must end ``done``.
"""
