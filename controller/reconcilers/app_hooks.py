"""App hooks (`spec.hooks.pre[]`, `spec.hooks.post[]`): one-off Jobs that gate and follow a new revision.

kubeOP defined the Job shape (`buildHookJob`) but never ran it. Here pre-hooks run when the revision changes and
must all succeed before the new revision's children are applied, so a failed migration leaves the old revision
running; post-hooks run once the new revision is ready. Hooks of one phase run one after another, in list order.

Two constraints shape the bookkeeping:

- A Job's pod template is immutable, so a hook Job is created once and never re-applied; it is found by name.
- Hook Jobs carry `ttlSecondsAfterFinished: 60` (kubeOP's shape), so a finished Job disappears a minute later.
  The App's `status.hooks` therefore records each hook's outcome for the revision (`Succeeded`, `Failed`):
  a recorded outcome stands in for a Job that has been cleaned up, so a hook never runs twice for a revision.

Everything here is pure; the reconciler reads the Jobs from its cache and writes what `decide_hooks` says.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from controller.reconcilers.django import JobState, job_state
from kube.objects import Obj, fit_name, name_of, namespace_of

HookPhase = Literal["pre", "post"]
PHASES: Final[tuple[HookPhase, ...]] = ("pre", "post")

PENDING: Final = "Pending"
RUNNING: Final = "Running"
SUCCEEDED: Final = "Succeeded"
FAILED: Final = "Failed"
FINISHED: Final = frozenset({SUCCEEDED, FAILED})

APP_LABEL: Final = "app.kubeop.io/app"
REVISION_LABEL: Final = "app.kubeop.io/revision"
PHASE_LABEL: Final = "app.kubeop.io/phase"
HOOK_TTL_SECONDS: Final = 60


@dataclass(frozen=True)
class Hook:
    image: str
    args: tuple[str, ...]


def hooks_of(app: Mapping[str, Any], phase: HookPhase) -> list[Hook]:
    """The hooks of one phase, in order; entries without an image are skipped (nothing to run). Pure."""
    spec = app.get("spec")
    hooks = spec.get("hooks") if isinstance(spec, Mapping) else None
    entries = hooks.get(phase) if isinstance(hooks, Mapping) else None
    found: list[Hook] = []
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, Mapping) and isinstance(entry.get("image"), str) and entry["image"].strip():
            args = entry.get("args")
            found.append(Hook(entry["image"], tuple(str(a) for a in args) if isinstance(args, list) else ()))
    return found


def hook_job_name(app_name: str, phase: HookPhase, revision: str, index: int, count: int) -> str:
    """`hook-<phase>-<app>-<rev[:8]>`, with `-<index>` appended when the phase has several hooks. Pure.

    Long App names are shortened (with a hash) so the name stays a valid label value: Jobs label their pods
    with their own name.
    """
    suffix = f"{revision[:8]}-{index}" if count > 1 else revision[:8]
    return fit_name(f"hook-{phase}-{app_name}", suffix)


def hook_job(
    app: Mapping[str, Any], hook: Hook, revision: str, phase: HookPhase, index: int = 0, count: int = 1
) -> Obj:
    """kubeOP's `buildHookJob`: one container `hook`, restartPolicy Never, no retries, cleaned up after 60 s."""
    labels = {APP_LABEL: name_of(app), REVISION_LABEL: revision, PHASE_LABEL: phase}
    container: dict[str, Any] = {"name": "hook", "image": hook.image}
    if hook.args:
        container["args"] = list(hook.args)
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": hook_job_name(name_of(app), phase, revision, index, count),
            "namespace": namespace_of(app),
            "labels": dict(labels),
        },
        "spec": {
            "backoffLimit": 0,
            "ttlSecondsAfterFinished": HOOK_TTL_SECONDS,
            "template": {
                "metadata": {"labels": dict(labels)},
                "spec": {"restartPolicy": "Never", "containers": [container]},
            },
        },
    }


def hook_jobs(app: Mapping[str, Any], revision: str, phase: HookPhase) -> list[Obj]:
    """Every hook Job of a phase for a revision, in order. Pure."""
    hooks = hooks_of(app, phase)
    return [hook_job(app, hook, revision, phase, i, len(hooks)) for i, hook in enumerate(hooks)]


# ---- state -------------------------------------------------------------------------------------------------


def recorded_phases(status: Mapping[str, Any] | None, revision: str, phase: HookPhase) -> list[str]:
    """The outcomes `status.hooks` recorded for `revision` (none when it speaks of another revision). Pure."""
    hooks = (status or {}).get("hooks")
    if not isinstance(hooks, Mapping) or hooks.get("revision") != revision:
        return []
    entries = hooks.get(phase)
    return [str(e) for e in entries] if isinstance(entries, list) else []


def observed_phase(job: Mapping[str, Any] | None, recorded: str | None) -> str:
    """One hook's phase: from its Job when the cache has it, else a recorded outcome, else Pending. Pure."""
    if job is None:
        return recorded if recorded in FINISHED else PENDING
    state, _ = job_state(job)
    if state is JobState.SUCCEEDED:
        return SUCCEEDED
    if state is JobState.FAILED:
        return FAILED
    return RUNNING


def observed_phases(jobs: Sequence[Mapping[str, Any] | None], recorded: Sequence[str]) -> list[str]:
    return [observed_phase(job, recorded[i] if i < len(recorded) else None) for i, job in enumerate(jobs)]


@dataclass(frozen=True)
class HookDecision:
    """What a reconcile does about hooks: whether the target revision's children are applied, which hook Job
    (phase, index) to create now, and the Ready condition to report instead of the children's own (None: theirs).
    """

    apply: bool
    create: tuple[HookPhase, int] | None
    ready: bool | None
    reason: str
    message: str


def _first(phases: Sequence[str], wanted: str) -> int | None:
    return next((i for i, p in enumerate(phases) if p == wanted), None)


def _gate(phase: HookPhase, phases: Sequence[str], revision: str) -> tuple[tuple[HookPhase, int] | None, str, str]:
    """For a phase not yet all Succeeded: the Job to create (if any), the reason and the message."""
    failed = _first(phases, FAILED)
    title = "PreHook" if phase == "pre" else "PostHook"
    if failed is not None:
        return None, f"{title}Failed", f"{phase}-hook {failed} of revision {revision} failed"
    running = _first(phases, RUNNING)
    pending = _first(phases, PENDING)
    create = (phase, pending) if running is None and pending is not None else None
    current = running if running is not None else pending
    done = sum(1 for p in phases if p == SUCCEEDED)
    message = f"running {phase}-hook {current} of revision {revision} ({done}/{len(phases)} succeeded)"
    return create, f"{title}sRunning", message


def decide_hooks(
    revision: str, served: str, pre: Sequence[str], post: Sequence[str], children_ready: bool
) -> HookDecision:
    """The hook state machine, from the target revision, the revision being served and each hook's phase. Pure.

    - Revision changed (`served != revision`) and pre-hooks not all Succeeded: the children are not applied
      (the served revision keeps running); the next Pending pre-hook is created once none is Running;
      a Failed one stops the rollout (`PreHookFailed`).
    - Otherwise the children are applied. Once they are ready, post-hooks run the same way
      (`PostHooksRunning`, `PostHookFailed`); Ready is reported only when they all Succeeded.
    """
    if served != revision and any(p != SUCCEEDED for p in pre):
        create, reason, message = _gate("pre", pre, revision)
        if reason == "PreHookFailed":
            kept = f"revision {served} keeps running" if served else "nothing is applied"
            message = f"{message}; {kept}"
        return HookDecision(False, create, False, reason, message)
    if not children_ready or all(p == SUCCEEDED for p in post):
        return HookDecision(True, None, None, "", "")
    create, reason, message = _gate("post", post, revision)
    return HookDecision(True, create, False, reason, message)


def hooks_status(revision: str, pre: Sequence[str], post: Sequence[str]) -> dict[str, Any] | None:
    """`status.hooks` to record (None when the App has no hooks). Pure."""
    if not pre and not post:
        return None
    return {"revision": revision, "pre": list(pre), "post": list(post)}
