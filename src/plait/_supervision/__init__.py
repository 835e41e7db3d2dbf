"""Long-running work.

The supervisor, services, shutdown, observers, signals and periodic jobs.
"""
