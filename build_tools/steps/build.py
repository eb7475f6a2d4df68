"""build: build and install what must be built: over precompiled kernels, only the extension
targets that differ from them (plan/targets.py); every target with --all or without a
precompiled base; or those --target names. Each installs only its own components, and records
where every installed library came from (checkout/provenance.py)."""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

from build_tools.cache import ccache, policy, sccache
from build_tools.cmake.codemodel import CodeModel, read_codemodel
from build_tools.cmake.project import CMake, uncached_compiles
from build_tools.cmake.unit_deps import runner_capture
from build_tools.errors import BUILD_FILES, classify
from build_tools.insight import held, last_build, memory, ninja_log
from build_tools.plan import content, over_base
from build_tools.process.runner import Command, CommandFailed, Fix, Outcome
from build_tools.run import Run


def fix_for(tail: Sequence[str]) -> str:
    return classify(tail).fix


def build(ctx: Run) -> None:
    """Build and install the kernels: over precompiled ones, only what differs from them;
    `--all` everything; `--target X,Y`: build X and Y, install only their components."""
    with ctx.step("build") as step:
        cmake, directory = ctx.cmake(), ctx.checkout.build_dir
        model = read_codemodel(directory)
        targets = list(ctx.settings.targets)  # none: the install target, every target
        for target in targets:
            if model is not None:
                model.require(target, directory)
        capture = runner_capture(ctx.runner)
        found = content.check(ctx.checkout, capture)
        if not targets and model is not None:
            over = _over(ctx)
            choice = over_base.choose_targets(over, model)
            over_base.show_plan(over, model, choice, found.planned(choice.build))
            if not choice.everything:
                if not choice.build:
                    step.skipped(over_base.nothing_differs(choice))
                    return
                targets = list(choice.build)
        acting = not (ctx.dry_run or ctx.settings.plan)
        content.prepare(ctx.checkout, ctx.console, found, targets, acting=acting)
        if ctx.settings.plan:
            unread = (
                f"{directory.name} is not configured yet: its first build compiles everything; "
            )
            step.ran(f"planned ({'' if model else unread}--plan: nothing built)")
            return
        since = time.time_ns()
        ctx.install_gate()
        ctx.install_python()  # ninja re-runs configure after a CMake edit
        ctx.install_pools()
        state = ctx.tree.state_dir
        waits_from = held.waits_offset(state, directory)
        argv = cmake.build(ctx.preset, *targets)
        env = {**ctx.cache_env(), **_stats_log_env(ctx)}  # hit rate known after
        with _sccache_server(ctx) as (client, before):
            if client and client.private:
                env[sccache.PORT] = client.overlay[sccache.PORT]
            try:
                outcome = _measured(ctx, ctx.command(argv, env), fix_for, waits_from)
            except CommandFailed as exc:
                if exc.kind != BUILD_FILES.kind:
                    raise
                # Regenerating what cmake generated costs seconds and keeps every object.
                ctx.console.note(
                    "the build files are damaged: regenerating them (objects are kept)"
                )
                configure = ctx.command(cmake.configure(ctx.preset), ctx.cache_env())
                ctx.runner.run(configure, fix=_after_regenerating)
                outcome = _measured(ctx, ctx.command(argv, env), _after_regenerating, waits_from)
            counted = (
                _sccache_result(ctx, client, before)
                if client and before and outcome.edges
                else None
            )
        if not ctx.dry_run:
            content.record(ctx.checkout, ctx.console, capture, found, since, outcome.edges)
        kept = list(outcome.kept)
        tree = ctx.checkout.build_tree
        for component in _components(model, targets):
            manifest_at = tree.local_manifest_mtime()
            kept += ctx.runner.run(
                ctx.command(cmake.install(directory, component)), fix=fix_for
            ).kept
            if not ctx.dry_run:
                tree.keep_local_manifest(component, manifest_at)
        stale = [name for name in outcome.linked if name in kept]
        _reinstall_stale(ctx, cmake, directory, model, stale)
        if model is not None and not ctx.dry_run:
            over_base.record_built(_over(ctx), model, targets or model.extension_targets)
        what = ", ".join(targets) or "all targets"
        hits = counted[0] if counted else None
        cache = (  # one line on what it cost
            None
            if ctx.dry_run
            else last_build.digest(ctx.checkout, ctx.console, outcome.edges, hits)
        )
        hits_counted = cache is not None or counted is not None
        waits = None if ctx.dry_run else held.gate_waits(state, directory, waits_from)
        if waits:
            ctx.console.note(waits.line)
            cache = ", ".join(filter(None, [cache, waits.summary]))
        if not ctx.dry_run and outcome.edges:
            held.keep_held(state, directory, waits, _this_build(directory))
        if counted:  # the hits where the digest could not say them; the cluster's share
            said = None if cache and counted[0].text in cache else counted[0].text
            cache = ", ".join(filter(None, [cache, said, counted[1]]))
        step.outcome = last_build.Built(
            not ctx.dry_run and not outcome.edges, cache if hits_counted else None
        )
        if ctx.dry_run:
            step.ran(what)
        elif not outcome.edges:
            step.ran(f"{what}: up to date")
        else:
            step.ran(f"{what}: {outcome.edges} build edge(s) ran" + (f"; {cache}" if cache else ""))


def _components(model: Optional[CodeModel], targets: Sequence[str]) -> list[str]:
    """The install components of `targets`, as the File API's install rules name them; a
    target no rule names (a custom target's files installed by name, like vLLM's
    `_deep_gemm_C`), or no reply to read: the component of its name, as vLLM names them."""
    found = [c for t in targets for c in ((model.components_of(t) if model else []) or [t])]
    return list(dict.fromkeys(found))


def _over(ctx: Run) -> over_base.Over:
    """What building over the precompiled kernels reads and asks with, from this run."""
    settings = ctx.settings
    return over_base.Over(
        ctx.checkout,
        ctx.console,
        ctx.git(),
        ctx.runner,
        ctx.cache_env,
        all_targets=settings.all_targets,
        plan=settings.plan,
        acting=not (ctx.dry_run or settings.plan),
    )


def _stats_log_env(ctx: Run) -> dict[str, str]:
    """CCACHE_STATSLOG for the build about to run (see ccache.stats_log_env)."""
    if ctx.dry_run:
        return {}
    environ = {**ctx.machine.environ, **ctx.cache_env()}
    return ccache.stats_log_env(ctx.checkout.launcher, environ, ctx.tree.state_dir)


def _after_regenerating(tail: Sequence[str]) -> str:
    found = classify(tail)
    if found is not BUILD_FILES:
        return found.fix
    return "regenerating the build files did not help: `invoke clean-build` starts afresh"


def _measured(ctx: Run, command: Command, fix: Fix, waits_from: int) -> Outcome:
    """Run the build while sampling each unit's peak memory (the next plan's budget; real
    compiles only) and saying each compile the memory gate holds, as it begins to wait."""
    state, directory = ctx.tree.state_dir, ctx.checkout.build_dir
    keep = None if ctx.dry_run else functools.partial(memory.record, state, directory)
    sampler = memory.Sampler(directory, keep, uncached_compiles(directory))
    watcher = held.HeldWatcher(state, directory, waits_from, ctx.console.note)
    observers = [sampler.observe] + ([] if ctx.dry_run else [watcher.observe])
    ctx.runner.observers.extend(observers)
    try:
        return ctx.runner.run(command, fix=fix)
    finally:
        for observe in observers:
            ctx.runner.observers.remove(observe)
        if not ctx.dry_run:
            memory.record(state, directory, sampler.measured())


def _this_build(directory: Path) -> list[ninja_log.Entry]:
    """The ninja log's entries of the build that just ran ([] when it cannot be read)."""
    try:
        log = ninja_log.read(directory)
    except Exception:  # a record of waits is never a reason a build fails
        return []
    found = ninja_log.builds(log.entries, log.version)
    return list(found[-1]) if found else []


@contextmanager
def _sccache_server(
    ctx: Run,
) -> Iterator[tuple[Optional[sccache.Client], Optional[sccache.SccacheCount]]]:
    """With sccache, a server of this build's own for the build (its counters are this build's
    alone), stopped in every case: success, failure, Ctrl-C. Where none starts, the shared
    server and the difference of its counters, with a warning."""
    environ = {**ctx.machine.environ, **ctx.cache_env()}  # a fallback SCCACHE_DIR included
    shared = None if ctx.dry_run else policy.sccache_client(ctx.checkout, environ)
    if shared is None:
        yield None, None
        return
    client = sccache.start_private(ctx.runner, shared, ctx.tree.root)
    if client is None:
        ctx.console.warn(
            "no sccache server of this build's own could be started: its cache hits are counted "
            "on the shared server, with whatever else compiles through it"
        )
        client = shared
    zero = sccache.SccacheCount(0, 0, 0, 0)
    before = zero if client.private else sccache.count(client.binary, client.environ)
    try:
        yield client, before
    finally:
        try:
            sccache.keep_stats(ctx.tree.state_dir, ctx.runner, client, ctx.tree.root)
        finally:
            sccache.stop_private(ctx.runner, client, ctx.tree.root)


def _sccache_result(
    ctx: Run, client: sccache.Client, before: sccache.SccacheCount
) -> Optional[tuple[sccache.SccacheCount, str]]:
    """This build's sccache counters (and, distributed, its compiles on the cluster, said);
    a warning when a distributed build ran nothing remotely."""
    after = sccache.count(client.binary, client.environ)
    if after is None:
        return None
    delta = after.since(before)
    if not client.distributed:
        return delta, ""
    if delta.remote == 0:
        ctx.console.warn(
            f"sccache-dist compiled nothing of this build remotely ({delta.errors} distributed "
            "compile(s) failed and ran here): check `sccache --dist-status` and the servers' logs"
        )
    return delta, f"{delta.remote} compile(s) on the sccache-dist cluster"


def _reinstall_stale(
    ctx: Run, cmake: CMake, directory: Path, model: CodeModel | None, stale: Sequence[str]
) -> None:
    """Install files that were just relinked but that cmake called "Up-to-date".

    `cmake --install` skips a file whose timestamp matches the installed copy's to the second,
    so two edit-build cycles within one second leave the older .so installed. CMake's
    file(INSTALL) reads CMAKE_INSTALL_ALWAYS and then copies regardless.
    """
    components = set(model.components) if model and stale else set()
    for name in dict.fromkeys(item.split(".", 1)[0] for item in stale):
        if name in components:
            command = ctx.command(cmake.install(directory, name), {"CMAKE_INSTALL_ALWAYS": "1"})
            ctx.runner.run(command, quiet=True, fix=fix_for)
