"""The machine and its environments: tools and capacity, Python interpreters, what a venv holds,
requirements files."""
