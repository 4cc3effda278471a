"""How one file reaches a worker: its converter's domain, detection across domains, one retry
on a fresh worker, and what the outcome means for the file.

With one domain, detection is one trip (the worker detects and converts). With several, each
domain is asked for its scores (a ``Detect``; a worker that dies on the head is retried once on a
fresh one, then the file has failed), the most confident converter (at least
``ACCEPT_THRESHOLD``; ties: the first configured) converts it in its domain, and the result
reports every domain's scores. A domain that cannot answer (it is down) has no opinion; when no
other converter is confident the file is :class:`Unavailable` rather than unrecognised, since
that domain might have claimed it.
"""

from __future__ import annotations

import itertools
import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

import msgspec
import trio

from ._detection import choose, empty_reason, unrecognised_reason
from ._domain import WorkerDomain
from ._finish import finish
from ._poolutil import failure_result
from ._process import JobFailure
from ._protocol import Detect, Refused, Request, Scores, encode_frame
from ._results import (
    ConversionResult,
    Converted,
    Crashed,
    OutOfMemory,
    Rejected,
    Unavailable,
)
from ._session import Counters, Job, Unrun
from ._settings import PoolSettings

__all__ = ["Detection", "Router"]

logger = logging.getLogger("converters.pool")

_MiB = 1 << 20


@dataclass(frozen=True, slots=True)
class Detection:
    """What auto-detection found for one file (:meth:`ConverterPool.detect`).

    Attributes:
        scores: every asked converter's confidence, by configured name.
        eligible: the converters detection may choose, in configuration order.
        hints: disabled built-ins, scored only to explain a refusal.
        chosen: the converter that would take the file; ``None`` when none would.
        reason: why none would (for an operator), when detection could decide that.
        unavailable: domains that could not answer (down), with why.
        failure: a worker died on the head twice (the file's fault), when it did.
    """

    scores: Mapping[str, float]
    eligible: tuple[str, ...]
    hints: tuple[str, ...]
    chosen: str | None
    reason: str | None
    unavailable: Mapping[str, str]
    failure: JobFailure | None = None


class Router:
    """Converts files in the pool's domains (the pool checks that it runs and counts results).

    Args:
        domains: the trust domains, in the order they first appear in the configuration.
        members: each configuration's domain and position in it, in configuration order.
        counters: the pool's counters (retries).
        settings: the pool's settings, read each time.
        namespace: the station's namespace for report ids.
        running: whether the pool takes files.
    """

    def __init__(
        self,
        domains: Sequence[WorkerDomain],
        members: Sequence[tuple[WorkerDomain, int]],
        *,
        counters: Counters,
        settings: Callable[[], PoolSettings],
        namespace: uuid.UUID,
        running: Callable[[], bool],
    ) -> None:
        self._domains = domains
        self._members = members
        self._counters = counters
        self._settings = settings
        self._namespace = namespace
        self._running = running
        self._job_ids = itertools.count(1)

    @property
    def settings(self) -> PoolSettings:
        return self._settings()

    def next_job_id(self) -> int:
        """A job number no other job of the pool has (conversions, detections, polls)."""
        return next(self._job_ids)

    async def convert_in(
        self,
        domain: WorkerDomain,
        data: bytes,
        name: str,
        sha256: str,
        converter: str | None,
        started: float,
        scores: dict[str, float] | None = None,
    ) -> ConversionResult:
        """Convert in ``domain`` (detecting there when ``converter`` is ``None``), retrying
        once on a fresh worker when the worker died on it. ``scores``: the combined scores of
        a detection across domains (the file was detected)."""
        job = await self._attempt(domain, data, name, converter, fresh=False)
        attempts = 1
        queued = job.started_at - job.queued_at
        if _retryable(job.outcome):
            # The worker died on it: once more, on a process that has converted nothing before.
            # Only a second death condemns the file; a retry that cannot run says nothing.
            self._counters.retries += 1
            job = await self._attempt(domain, data, name, converter, fresh=True)
            attempts = 2
            queued += job.started_at - job.queued_at
        outcome = job.outcome
        assert outcome is not None
        if isinstance(outcome, Unrun):
            return Unavailable(name, sha256, outcome.reason, converter, attempts - 1)
        if isinstance(outcome, JobFailure):
            return failure_result(outcome, name, sha256, converter, attempts, self.settings)
        assert not isinstance(outcome, Scores)  # checked by the slot (_distrust)
        detected = converter is None or scores is not None
        if isinstance(outcome, Refused):
            if outcome.kind == "unrecognised":  # the parent's words, from the checked scores
                reason = unrecognised_reason(
                    outcome.scores or {},
                    domain.aliases_with("on"),
                    domain.aliases_with("hint"),
                    data[: self.settings.detect_head_kb * 1024],
                    name,
                )
                outcome = msgspec.structs.replace(outcome, reason=reason)
            refused = self._refused(outcome, name, sha256, attempts, scores)
            return _noting_leftovers(refused, outcome.children_left)
        info = domain.infos.get(outcome.converter)
        if info is None:  # cannot happen: the slot checked the answer's converter
            return Crashed(
                name, sha256, "protocol violation: unknown converter", None, "", converter,
                attempts, cause="protocol_violation",
            )  # fmt: skip
        finished = await finish(
            outcome,
            info,
            name=name,
            sha256=sha256,
            namespace=self._namespace,
            detected=detected,
            attempts=attempts,
            started=started,
            queued=queued,
            settings=self.settings,
            scores=scores,
        )
        return _noting_leftovers(finished, outcome.children_left)

    def _refused(
        self,
        outcome: Refused,
        name: str,
        sha256: str,
        attempts: int,
        scores: dict[str, float] | None,
    ) -> ConversionResult:
        if outcome.kind == "out_of_memory":
            limit = self.settings.address_space_mb * _MiB
            return OutOfMemory(
                name, sha256, "address_space", limit, 0, "", outcome.converter, attempts
            )
        cause = "converter" if outcome.kind == "rejected" else outcome.kind
        return Rejected(
            name,
            sha256,
            cause,
            outcome.reason,
            where=outcome.where,
            detail=outcome.detail,
            converter=outcome.converter,
            scores=scores if scores is not None else outcome.scores,
        )

    async def detect(self, data: bytes, name: str) -> Detection:
        """Ask every domain for its scores of the file's head and decide, without converting."""
        head = data[: self.settings.detect_head_kb * 1024]
        answers: dict[str, Scores | JobFailure | Unrun] = {}

        async def ask(domain: WorkerDomain) -> None:
            for fresh in (False, True):  # a worker that died on it: once more, on a fresh one
                job = self._job(domain, Detect, name, head, None, fresh=fresh)
                job.detect_only = True
                await domain.attempt(job)
                outcome = job.outcome
                if not isinstance(outcome, Scores | JobFailure | Unrun):  # pragma: no cover
                    outcome = Unrun(f"unexpected outcome {type(outcome).__name__}")
                answers[domain.plan.id] = outcome
                if not isinstance(outcome, JobFailure):
                    return
                if not fresh:
                    self._counters.retries += 1

        async with trio.open_nursery() as nursery:
            for domain in self._domains:
                nursery.start_soon(ask, domain)
        failure = next(
            (a for d in self._domains if isinstance(a := answers.get(d.plan.id), JobFailure)),
            None,
        )
        scores: dict[str, float] = {}
        eligible: list[str] = []
        hints: list[str] = []
        for domain, index in self._members:
            answer = answers.get(domain.plan.id)
            detection = domain.plan.configs[index].detection
            if isinstance(answer, Scores) and domain.complete and detection != "off":
                alias = list(domain.infos)[index]
                (eligible if detection == "on" else hints).append(alias)
                scores[alias] = answer.scores.get(alias, 0.0)
        chosen = choose(scores, eligible) if failure is None else None
        silent = {d: a.reason for d, a in answers.items() if isinstance(a, Unrun)}
        reason = None
        if not data:
            reason = empty_reason()
        elif chosen is None and failure is None and not silent:
            reason = unrecognised_reason(scores, eligible, hints, head, name)
        return Detection(scores, tuple(eligible), tuple(hints), chosen, reason, silent, failure)

    async def detect_and_convert(
        self, data: bytes, name: str, sha256: str, started: float
    ) -> ConversionResult:
        """Ask every domain for its scores, then convert with the most confident converter."""
        found = await self.detect(data, name)
        if found.failure is not None:  # a worker died on the head twice: the file's fault
            return failure_result(found.failure, name, sha256, None, 2, self.settings)
        if found.chosen is None:
            if found.unavailable:
                reason = "detection could not ask every converter: " + "; ".join(
                    f"{d}: {a}" for d, a in found.unavailable.items()
                )
                return Unavailable(name, sha256, reason, None, 0)
            return Rejected(
                name,
                sha256,
                "unrecognised",
                found.reason or "no converter recognised the file",
                scores=dict(found.scores),
            )
        for domain_id, why in found.unavailable.items():
            logger.info("detection of %r went on without domain %r: %s", name, domain_id, why)
        domain = next(d for d in self._domains if found.chosen in d.infos)
        return await self.convert_in(
            domain, data, name, sha256, found.chosen, started, dict(found.scores)
        )

    def _job(
        self,
        domain: WorkerDomain,
        kind: type[Request] | type[Detect],
        name: str,
        data: bytes,
        converter: str | None,
        *,
        fresh: bool = False,
    ) -> Job:
        job_id = next(self._job_ids)
        if kind is Detect:
            request = encode_frame(Detect(job=job_id, name=name, head=data))
        else:
            request = encode_frame(Request(job=job_id, converter=converter, name=name, data=data))
        return Job(job_id, name, converter, fresh, trio.current_time(), request)

    async def _attempt(
        self, domain: WorkerDomain, data: bytes, name: str, converter: str | None, *, fresh: bool
    ) -> Job:
        job = self._job(domain, Request, name, data, converter, fresh=fresh)
        if not self._running():
            job.complete(Unrun("the converter pool stopped before a worker took the file"))
            return job
        return await domain.attempt(job)


def _retryable(outcome: object) -> bool:
    return isinstance(outcome, JobFailure) or (
        isinstance(outcome, Refused) and outcome.kind == "out_of_memory"
    )


_Result = TypeVar("_Result", bound=ConversionResult)


def _noting_leftovers(result: _Result, children_left: bool) -> _Result:
    """``result``, marked when the converter left processes running (said by the worker, so
    a hostile one can hide it; the worker is replaced and those processes die with it)."""
    if children_left and isinstance(result, Converted | Rejected):
        return msgspec.structs.replace(result, left_processes=True)
    return result
