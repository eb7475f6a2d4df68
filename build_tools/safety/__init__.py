"""What keeps a person's work safe: files replaced atomically with backups, paths refused that
nvcc or CMake would execute, credentials never printed or written where others can read them."""
