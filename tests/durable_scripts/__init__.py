"""Helpers for the durable-job tests: engines, handler apps, worker processes."""
