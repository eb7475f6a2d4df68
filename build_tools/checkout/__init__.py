"""The checkout we build, read-only: its source tree (read from files) and a view of it for one
preset (presets as CMake resolves them, the resolved preset, its build dir)."""
