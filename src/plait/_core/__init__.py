"""What every wing uses.

Awaitables, deadlines, cancellation, the fuzz hook, the random source and
event-loop selection.
"""
