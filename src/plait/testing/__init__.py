"""Testing tools for concurrency code: virtual time, schedule fuzzing, probes."""
