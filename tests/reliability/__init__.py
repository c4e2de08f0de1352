"""Reliability and security suite: injected faults, shutdown, many workers, fuzzing, secrets."""
