"""Processes we start and stop: the one runner, signal forwarding, what /proc says of a process."""
