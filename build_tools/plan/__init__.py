"""What a build will do before it runs: which targets (affected.py: what a set of changed files
touches; targets.py: what to build over the precompiled kernels, and what it will cost) and
how many compiles at once (jobs.py)."""
