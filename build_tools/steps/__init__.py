"""The workflow's steps, one per module. Each checks "already done?" first, then acts, and
records what it did; no step calls another (the order is workflow.py's business)."""
