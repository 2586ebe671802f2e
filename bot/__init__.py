"""Frontrow: a human-in-the-loop engagement assistant for one Mastodon account."""

__version__ = "0.1.0"
