"""Analyses on the IR: buffer lifetimes and live bytes (liveness), partial-execution candidates."""
