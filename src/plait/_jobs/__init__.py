"""Background jobs.

The job model and protocol, in-process backends, and the durable backend.
"""
