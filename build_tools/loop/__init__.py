"""The edit loop around a build: rebuild on every save (watch.py) and run the tests that
exercise the kernels changed (tests.py)."""
