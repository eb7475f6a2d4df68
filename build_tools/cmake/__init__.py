"""What talks to CMake: presets files and the project."""
