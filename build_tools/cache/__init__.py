"""Compiler caches: ccache, sccache, a shared remote cache (Redis) and sccache-dist; which one a
preset uses, whether it can work now, and what one build got from it."""
