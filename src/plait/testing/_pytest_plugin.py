"""pytest plugin for plait.testing (registered by entry point)."""
