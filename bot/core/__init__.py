"""Core: pure policy (rules, budget, commands, rendering); no I/O and no clock reads."""
