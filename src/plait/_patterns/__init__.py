"""The patterns.

gather, race, as_completed, retry, the rate limiter, the worker pool,
bounded_map and imap.
"""
