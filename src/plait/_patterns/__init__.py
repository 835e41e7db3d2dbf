"""The patterns.

gather, race, as_completed, retry and the rate limiter, one module each; the
worker pools: bounded_map (``_map``) and imap (``_imap``, its block in
``_mapped_stream``), sharing how an item is called (``_call``), where items
come from (``_items``) and how workers are started (``_workers``).
"""
