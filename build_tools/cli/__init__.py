"""The front doors' shared part: the invoke task collection (`tasks.py`), the flags-to-Settings
machinery (`front.py`) and the `vllm-build` program (`program.py`)."""
