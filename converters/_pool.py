"""The converter pool: sandboxed worker processes, one set per trust domain, behind one API.

The configured converters are grouped into trust domains (:mod:`converters._domains`): the
built-ins share one, each third-party plug-in module has its own. Every domain runs
``settings.workers`` worker processes under a dynamic supervisor of its own
(:mod:`converters._domain`); its workers import only its converters, so no plug-in's code ever
runs beside another plug-in's or the built-ins'.

:meth:`ConverterPool.convert` sends a file to the domain of the converter named, and retries a
file whose worker died on it once, on a *fresh* process of that domain (one that has converted
nothing before, so no state left by earlier files can be the cause): only the second failure is
final. A retry for which no fresh process can be started, a file the pool stopped before or while
converting, and a file for a domain that cannot start a worker now get
:class:`~converters.Unavailable`: nothing is known against the file, and the caller tries later.

Auto-detection (``converter=None``) across domains is :mod:`converters._routing`.

The parent trusts nothing a worker says (:mod:`converters._distrust`): answers are checked
against the job, report ids are the parent's (:mod:`converters._finish`), and a protocol
violation fails that file (``Crashed``, ``cause="protocol_violation"``) and replaces that worker,
never the pool.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import msgspec
import trio

from supervisors import EventObserver

from ._detection import empty_reason
from ._discovery import AUTO_DETECTED, absolute_ref, load_converter
from ._domain import WorkerDomain
from ._domains import DomainPlan, plan_domains
from ._errors import ConverterInvalid, PoolClosed, SandboxUnavailable, UnknownConverter
from ._polling import poll_in
from ._poolutil import file_hash, printable_name, unwrap_single_error
from ._protocol import ConverterDescription, ConverterInfo, Setup
from ._results import (
    ConversionResult,
    Converted,
    Crashed,
    OutOfMemory,
    PoolStatistics,
    Rejected,
    TimedOut,
    Unavailable,
)
from ._routing import Detection, Router
from ._sandbox import SandboxInfo, required_but_unavailable
from ._session import Counters
from ._settings import ConverterConfig, PoolSettings

if TYPE_CHECKING:
    from ._catalog import CatalogEntry

__all__ = ["DEFAULT_CONVERTERS", "ConverterPool", "open_converter_pool"]

logger = logging.getLogger("converters.pool")

DEFAULT_CONVERTERS: tuple[ConverterConfig, ...] = tuple(ConverterConfig(n) for n in AUTO_DETECTED)
"""The converters a pool loads when it is given none: the built-ins."""

_MiB = 1 << 20


class ConverterPool:
    """Sandboxed converter workers and the API the node converts files with.

    Args:
        settings: limits, and workers *per trust domain* (:class:`PoolSettings`).
        converters: what to load, in detection-tie order; a string is a reference with no
            arguments. Default: the built-ins (``wsjf``, ``csv``).
        station_namespace: the station's namespace UUID for deterministic report ids.
        observers: receive every supervisor event of every domain's worker supervisor.
        on_workers: called with the reason when no trust domain can start a worker any more
            (every slot's last start failed: conversions then answer :class:`Unavailable` at
            once), and with ``None`` when one can again. Without it, both are logged. One
            domain of several going down (a plug-in whose workers cannot start) is logged
            instead: its converters' conversions answer :class:`Unavailable` with the reason,
            the other domains go on.

    Run it with ``async with open_converter_pool(...)``, or as a supervised child with
    ``ChildSpec("pool", pool.run, kind="supervisor")``; ``run`` may be called again after it
    returned.
    """

    def __init__(
        self,
        settings: PoolSettings | None = None,
        *,
        converters: Sequence[ConverterConfig | str] | None = None,
        station_namespace: uuid.UUID,
        observers: Iterable[EventObserver] = (),
        on_workers: Callable[[str | None], object] | None = None,
    ) -> None:
        self.settings = settings if settings is not None else PoolSettings()
        chosen = DEFAULT_CONVERTERS if converters is None else converters
        configs = (ConverterConfig(item) if isinstance(item, str) else item for item in chosen)
        self._configs = tuple(
            msgspec.structs.replace(config, ref=absolute_ref(config.ref)) for config in configs
        )
        self.station_namespace = station_namespace
        self._counters = Counters()
        self._names: dict[str, tuple[str, str]] = {}
        self._domains = [
            WorkerDomain(
                plan,
                lambda: self.settings,
                counters=self._counters,
                names=self._names,
                observers=observers,
                on_down=self._domain_changed,
                make_setup=self._setup,
            )
            for plan in plan_domains(self._configs)
        ]
        # each configuration's domain and position in it, in configuration order
        self._members: list[tuple[WorkerDomain, int]] = []
        for config in self._configs:
            for domain in self._domains:
                found = [i for i, c in enumerate(domain.plan.configs) if c is config]
                if found:
                    self._members.append((domain, found[0]))
        self._router = Router(
            self._domains,
            self._members,
            counters=self._counters,
            settings=lambda: self.settings,
            namespace=station_namespace,
            running=lambda: self._running,
        )
        self._running = False
        self._active = False
        self._on_workers = on_workers
        self._reported: str | None = None

    # ------------------------------------------------------------------------------------ API

    @property
    def running(self) -> bool:
        """True between ready and stopped."""
        return self._running

    @property
    def sandbox(self) -> SandboxInfo:
        """The sandbox the workers reached: that of the first domain (in configuration order)
        whose worker has started (``unknown`` while none has).

        Raises:
            PoolClosed: the pool never started.
        """
        for domain, _ in self._members:
            if domain.sandbox is not None:
                return domain.sandbox
        if not self._active:
            raise PoolClosed("the pool has not started; its sandbox level is not known yet")
        return SandboxInfo("unknown", 0, "no worker has started yet")

    @property
    def sandbox_level(self) -> str:
        """``landlock-abi<N>+rlimits`` or ``rlimits-only`` (see :attr:`sandbox`)."""
        return self.sandbox.level

    @property
    def converters(self) -> tuple[ConverterInfo, ...]:
        """The loaded converters, in configuration order (each known once its domain's first
        worker has started; the built-ins' at once)."""
        found = []
        for domain, index in self._members:
            if domain.complete:
                found.append(list(domain.infos.values())[index])
        return tuple(found)

    def catalog(self) -> tuple[CatalogEntry, ...]:
        """Every loaded converter with its description and part in auto-detection, in
        configuration order (``pywats-node converters``). A plug-in's texts are its worker's,
        bounded and cleaned; a built-in's come from its class."""
        from ._catalog import CatalogEntry, describe_class  # inspect: only when listing

        entries = []
        for domain, index in self._members:
            if not domain.complete:
                continue
            info = list(domain.infos.values())[index]
            config = domain.plan.configs[index]
            if domain.plan.trusted:
                described = describe_class(info.alias, load_converter(config.ref))
            else:
                described = domain.descriptions.get(info.alias, ConverterDescription(info.alias))
            entries.append(
                CatalogEntry(
                    info=info,
                    description=described,
                    detection=config.detection,
                    domain=domain.plan.id,
                )
            )
        return tuple(entries)

    @property
    def domains(self) -> tuple[str, ...]:
        """The trust domains, in configuration order (``builtin``, then plug-in labels)."""
        return tuple(domain.plan.id for domain in self._domains)

    async def run(
        self, *, task_status: trio.TaskStatus[ConverterPool] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Start every domain's workers, report ready, and supervise them until :meth:`stop`.

        Raises:
            ConverterLoadError: a configured converter cannot be loaded (not found, bad
                api_version, bad arguments, a name another domain uses...); before ready.
            SandboxUnavailable: ``landlock = "required"`` on a kernel without Landlock.
            WorkerStartError: the first worker of the built-in domain failed to start (a
                plug-in domain's worker that fails to start only makes its converters
                unavailable; it is retried with ``start_backoff_max``).
            SupervisorGaveUp: the built-in domain's workers crashed more often than the
                restart intensity allows (a plug-in domain's stop only that domain).
            RuntimeError: the pool is already running.

        Cancellation: every worker process tree is killed and reaped.
        """
        if self._active:
            raise RuntimeError("the converter pool is already running")
        settings = self.settings
        refused = required_but_unavailable(settings)
        if refused is not None:
            raise SandboxUnavailable(refused)
        self._names.clear()
        for domain in self._domains:
            domain.reset()
        self._active = True
        self._reported = None
        try:
            with unwrap_single_error():
                async with trio.open_nursery() as nursery:
                    errors: dict[int, Exception] = {}

                    async def start(index: int, domain: WorkerDomain) -> None:
                        error = await nursery.start(domain.run)
                        if error is not None:
                            errors[index] = error

                    async with trio.open_nursery() as starting:
                        for index, domain in enumerate(self._domains):
                            starting.start_soon(start, index, domain)
                    for index, domain in enumerate(self._domains):
                        if domain.complete and not domain.plan.trusted and not errors:
                            try:  # in configuration order: the later of two is refused
                                domain.claim()
                            except ConverterInvalid as exc:
                                errors[index] = exc
                    if errors:
                        await self._stop_domains(None)
                        raise errors[min(errors)]
                    self._running = True
                    task_status.started(self)
        finally:
            self._running = self._active = False

    async def stop(self, grace: float | None = None) -> None:
        """Stop the workers and wait until they have stopped.

        Workers finish the file they are converting (phase one, up to ``stop_grace`` each);
        after ``grace`` seconds whatever still runs is killed. Callers still waiting for a worker
        get :class:`Unavailable`.
        """
        if self._active:
            self._running = False
            await self._stop_domains(grace)

    async def _stop_domains(self, grace: float | None) -> None:
        async with trio.open_nursery() as nursery:
            for domain in self._domains:
                nursery.start_soon(domain.stop, grace)

    async def convert(
        self, data: bytes, name: str, converter: str | None = None
    ) -> ConversionResult:
        """Convert one file in a sandboxed worker of its converter's trust domain.

        Args:
            data: the file's content.
            name: the file's name (converters may look at its extension). A name that is not
                valid Unicode (bytes a file system allowed, kept by Python as surrogates)
                reaches the converter with those bytes replaced by U+FFFD.
            converter: the configured name of the converter to use; ``None`` picks the converter
                whose ``detect()`` is most confident (at least 0.5; a tie picks none and
                rejects the file, see :mod:`converters._detection`); an empty file is
                then rejected as empty before any converter sees it.

        Returns:
            :class:`Converted`, or a typed failure: :class:`Rejected` (the file is bad, or its
            output too large), :class:`Crashed` (a worker died on it twice, or broke the
            protocol: ``cause``), :class:`TimedOut`, :class:`OutOfMemory` (the first failure
            is retried once on a fresh worker), or :class:`Unavailable` (the conversion could
            not run: the pool stopped before or while converting it, no fresh worker could be
            started for the retry, or the converter's domain cannot start a worker now).

        Raises:
            UnknownConverter: ``converter`` is not one of the pool's converters.
            PoolClosed: the pool is not running.

        Cancellation: safe at any point. A file already handed to a worker is converted to the
        end (within its timeout) and the result dropped.
        """
        if not self._running:
            raise PoolClosed("the converter pool is not running")
        domain: WorkerDomain | None = None
        if converter is not None:
            domain = next((d for d in self._domains if d.serves(converter)), None)
            if domain is None and all(d.complete for d in self._domains):
                raise UnknownConverter(converter, tuple(info.alias for info in self.converters))
        started = trio.current_time()
        name = printable_name(name)
        sha256 = await file_hash(data)
        result: ConversionResult
        if not data and converter is None:  # nothing to detect: say so, not "unrecognised"
            result = Rejected(name, sha256, "no_reports", empty_reason())
        elif len(data) > self.settings.max_input:
            result = Rejected(
                name,
                sha256,
                "too_large",
                f"the file is {len(data) / _MiB:.1f} MiB; the limit is "
                f"{self.settings.max_input_mb} MiB ([conversion] max_input_mb)",
                converter=converter,
            )
        elif converter is not None and domain is None:
            reason = f"no converter named {converter!r} is known yet: " + "; ".join(
                d.down or f"domain {d.plan.id!r} has not started a worker yet"
                for d in self._domains
                if not d.complete
            )
            result = Unavailable(name, sha256, reason, converter, 0)
        elif domain is not None or len(self._domains) == 1:
            domain = domain or self._domains[0]
            result = await self._router.convert_in(domain, data, name, sha256, converter, started)
        else:
            result = await self._router.detect_and_convert(data, name, sha256, started)
        self._count(result)
        return result

    async def detect(self, data: bytes, name: str) -> Detection:
        """Every converter's confidence about a file, and the one auto-detection would choose
        (``pywats-node convert --explain``); nothing is converted.

        Each trust domain scores the head in one of its sandboxed workers, as for a
        conversion without a converter name.

        Raises:
            PoolClosed: the pool is not running.

        Cancellation: safe at any point.
        """
        if not self._running:
            raise PoolClosed("the converter pool is not running")
        return await self._router.detect(data, printable_name(name))

    async def poll(
        self,
        converter: str,
        source: str,
        cursor: bytes | str | None,
        *,
        scope: str,
        wall_limit: float | None = None,
    ) -> ConversionResult:
        """Run a scheduled converter once, in a sandboxed worker of its trust domain.

        Args:
            converter: the configured name of a scheduled converter (``kind = "scheduled"``).
            source: the path it polls; its domain's workers must be able to read it (give it
                in the converter's ``ConverterConfig.read_paths``).
            cursor: what its last stored run returned (``None``: the first run).
            scope: the schedule's id: report ids derive from it and each report's key
                (:mod:`converters._polling`).
            wall_limit: the run's wall-clock limit in seconds (default: the pool's
                ``timeout``).

        Returns:
            :class:`Converted` with the reports (maybe none) and the new ``cursor``, or a
            failure as for a file (:class:`Rejected`, :class:`Crashed`, :class:`TimedOut`,
            :class:`OutOfMemory`, :class:`Unavailable`); a run that died is retried once on a
            fresh worker. A converter that is not a scheduled one is :class:`Rejected`.

        Raises:
            UnknownConverter: no converter of that name.
            PoolClosed: the pool is not running.
        """
        if not self._running:
            raise PoolClosed("the converter pool is not running")
        domain = next((d for d in self._domains if converter in d.infos), None)
        if domain is None:
            if not all(d.complete for d in self._domains):
                return Unavailable(
                    f"schedule {scope}", "0" * 64, "its converter's workers have not started yet",
                    converter, 0,
                )  # fmt: skip
            raise UnknownConverter(converter, tuple(info.alias for info in self.converters))
        info = domain.infos[converter]
        if info.kind != "scheduled":
            reason = f"{converter} is a {info.kind} converter, not a scheduled one (no poll())"
            return Rejected(f"schedule {scope}", "0" * 64, "converter", reason, converter=converter)

        def retried() -> None:
            self._counters.retries += 1

        result = await poll_in(
            domain,
            info,
            job_id=self._router.next_job_id,
            source=source,
            cursor=cursor,
            scope=scope,
            namespace=self.station_namespace,
            settings=self.settings,
            wall_limit=wall_limit,
            counters_retry=retried,
        )
        self._count(result)
        return result

    def statistics(self) -> PoolStatistics:
        """A frozen snapshot of the pool and its workers (every domain's slots)."""
        c = self._counters
        slots = tuple(slot.snapshot() for d in self._domains for slot in d.slots)
        restarts = sum(
            d.supervisor.statistics().total_restarts
            for d in self._domains
            if d.supervisor is not None
        )
        try:
            level = self.sandbox.level
        except PoolClosed:
            level = "unknown"
        return PoolStatistics(
            workers=len(slots),
            ready=sum(1 for s in slots if s.state in ("idle", "busy")),
            busy=c.busy,
            waiting=c.waiting,
            conversions=c.conversions,
            converted=c.converted,
            rejected=c.rejected,
            crashed=c.crashed,
            timed_out=c.timed_out,
            out_of_memory=c.out_of_memory,
            retries=c.retries,
            worker_crashes=c.worker_crashes,
            worker_restarts=restarts,
            recycles=c.recycles,
            sandbox_level=level,
            slots=slots,
            unavailable=c.unavailable,
            violations=c.violations,
            domains=self.domains,
        )

    # ----------------------------------------------------------------------------- converting

    def _setup(self, plan: DomainPlan) -> Setup:
        settings = self.settings
        return Setup(
            converters=plan.setups(),
            python_path=list(settings.python_path),
            read_paths=[*settings.read_paths, *(p for c in plan.configs for p in c.read_paths)],
            temp_dir="",
            landlock=settings.landlock,
            detect_head=settings.detect_head_kb * 1024,
            cpu_seconds=settings.cpu_seconds,
            max_request=settings.max_input + (1 << 16),
            describe=not plan.trusted,  # the built-ins' descriptions come from their classes
        )

    def _domain_changed(self, domain: WorkerDomain) -> None:
        """A domain went down or came back: log it; and tell ``on_workers`` (or log) when no
        domain at all can start a worker, or one can again. One plug-in's domain being down is
        that plug-in's trouble: its files wait and say why, the others go on."""
        if len(self._domains) > 1:
            if domain.down is not None:
                logger.warning("%s; the files for its converters wait", domain.down)
            else:
                logger.info("the converter domain %s has workers again", domain.plan.id)
        everything = all(d.down is not None for d in self._domains)
        down = next((d.down for d in self._domains if d.down is not None), None)
        if not everything:
            down = None
        if down == self._reported:
            return
        self._reported = down
        if self._on_workers is not None:
            self._on_workers(down)
        elif down is not None:
            logger.warning("%s; its conversions wait until one can", down)
        else:
            logger.info("every converter domain has workers again")

    def _count(self, result: ConversionResult) -> None:
        c = self._counters
        c.conversions += 1
        if isinstance(result, Converted):
            c.converted += 1
        elif isinstance(result, Rejected):
            c.rejected += 1
        elif isinstance(result, Crashed):
            c.crashed += 1
        elif isinstance(result, TimedOut):
            c.timed_out += 1
        elif isinstance(result, OutOfMemory):
            c.out_of_memory += 1
        else:
            c.unavailable += 1


@asynccontextmanager
async def open_converter_pool(
    settings: PoolSettings | None = None,
    *,
    converters: Sequence[ConverterConfig | str] | None = None,
    station_namespace: uuid.UUID,
    observers: Iterable[EventObserver] = (),
    on_workers: Callable[[str | None], object] | None = None,
) -> AsyncIterator[ConverterPool]:
    """Run a :class:`ConverterPool` for the length of an ``async with`` block.

    The block is entered once every domain has started (a plug-in domain whose worker cannot
    start counts as started: its converters are unavailable until one can). Leaving it stops
    the workers (each finishes its file within ``stop_grace``); every process is killed and
    reaped by the time it returns.

    Raises:
        ConverterLoadError: a configured converter cannot be loaded (on entry).
        WorkerStartError: the built-in domain's first worker failed to start (on entry).
        SupervisorGaveUp: the built-in domain's workers crashed faster than the restart
            intensity allows (the block is cancelled).
    """
    pool = ConverterPool(
        settings,
        converters=converters,
        station_namespace=station_namespace,
        observers=observers,
        on_workers=on_workers,
    )
    with unwrap_single_error():
        async with trio.open_nursery() as nursery:
            await nursery.start(pool.run)
            try:
                yield pool
            finally:
                with trio.CancelScope(shield=True):
                    await pool.stop(pool.settings.stop_grace * 2 + 5)
