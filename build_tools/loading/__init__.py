"""The load check: every installed extension loads in the checkout's environment (check.py)."""
