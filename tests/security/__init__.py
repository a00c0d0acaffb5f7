"""Security tests: one per finding of the attacker's probe (issue #24), and the probes that held."""
