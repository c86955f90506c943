"""The client: commands as request/reply, waiting for jobs, and the event stream."""

from __future__ import annotations

import asyncio
import builtins
import inspect
import json
import logging
from datetime import datetime
from types import TracebackType
from typing import Any, Mapping, Sequence

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NatsClient
from nats.js.api import ConsumerConfig, DeliverPolicy

from ._errors import InternalError, RequestTimeout, ServiceUnavailable, WaitTimeout, error_from_dict
from ._events import Event, RecentIds, parse_event, progress_of_job
from ._models import Job, JobPage, Progress, ProgressCallback, ValidationReport, Workflow, WorkflowCatalogue
from ._subjects import command_subject, events_subject

logger = logging.getLogger("chorus_visual")

DEFAULT_PREFIX = "chorus.visual"
DEFAULT_STREAM = "CHORUS_VISUAL_EVENTS"


class ChorusVisual:
    """A connection to chorus-visual over NATS.

    ``await ChorusVisual.connect(...)`` opens its own NATS connection (closed by ``close()``);
    ``ChorusVisual(nc)`` uses one the caller already has (left open).
    """

    def __init__(
        self,
        nc: NatsClient,
        *,
        prefix: str = DEFAULT_PREFIX,
        stream: str = DEFAULT_STREAM,
        request_timeout: float = 10.0,
        poll_interval: float = 5.0,
        owns_connection: bool = False,
    ) -> None:
        self.nc = nc
        self.prefix = prefix
        self.stream = stream
        self.request_timeout = request_timeout
        #: How often ``wait`` asks ``get`` when no event came (covers events lost in a NATS hiccup).
        self.poll_interval = poll_interval
        self._owns_connection = owns_connection

    @classmethod
    async def connect(
        cls,
        servers: str | Sequence[str] = "nats://127.0.0.1:4222",
        prefix: str = DEFAULT_PREFIX,
        *,
        stream: str = DEFAULT_STREAM,
        request_timeout: float = 10.0,
        poll_interval: float = 5.0,
        **nats_options: Any,
    ) -> ChorusVisual:
        """Connects to NATS; ``nats_options`` go to ``nats.connect`` (user, password, token,
        user_credentials, tls, name, …)."""
        nats_options.setdefault("name", "chorus-visual-client")
        nc = await nats.connect(servers=[servers] if isinstance(servers, str) else list(servers), **nats_options)
        return cls(nc, prefix=prefix, stream=stream, request_timeout=request_timeout, poll_interval=poll_interval, owns_connection=True)

    async def close(self) -> None:
        if self._owns_connection and not self.nc.is_closed:
            await self.nc.drain()

    async def __aenter__(self) -> ChorusVisual:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()

    # ── commands ──────────────────────────────────────────────────────────────────────────

    async def generate(
        self,
        *,
        conversation_id: str,
        character: str | None = None,
        workflow: str | None = None,
        user_request: str | None = None,
        activity: str | None = None,
        prompt: str | None = None,
        negative_prompt: str | None = None,
        seed: int | None = None,
        thread_id: str | None = None,
        message_id: str | None = None,
        priority: int | None = None,
        strict_llm: bool | None = None,
        parameters: Mapping[str, int | float] | None = None,
        request_id: str | None = None,
    ) -> Job:
        """Starts a job (the fields of ``{prefix}.cmd.generate``). With a ``request_id`` seen
        before, no second job is made: the existing one comes back with ``created == False``."""
        body = _without_none(
            conversation_id=conversation_id, character=character, workflow=workflow, user_request=user_request,
            activity=activity, prompt=prompt, negative_prompt=negative_prompt, seed=seed, thread_id=thread_id,
            message_id=message_id, priority=priority, strict_llm=strict_llm,
            parameters=dict(parameters) if parameters is not None else None, request_id=request_id,
        )
        reply = await self._request("generate", body)
        return self._job(reply["job"], created=bool(reply.get("created", True)))

    async def regenerate(self, job_id: str, *, seed: int | None = None, request_id: str | None = None) -> Job:
        """A new job with the prompt and settings of ``job_id``; a new random seed unless given."""
        reply = await self._request("regenerate", _without_none(job_id=job_id, seed=seed, request_id=request_id))
        return self._job(reply["job"], created=bool(reply.get("created", True)))

    async def get(self, job_id: str) -> Job:
        reply = await self._request("get", {"job_id": job_id})
        return self._job(reply["job"])

    async def get_details(self, job_id: str, *, debug: bool = True) -> dict[str, Any]:
        """The raw ``get`` reply: ``job``, its ``events`` (transitions) and ``debug`` when asked."""
        return await self._request("get", {"job_id": job_id, "debug": debug})

    async def cancel(self, job_id: str) -> Job:
        reply = await self._request("cancel", {"job_id": job_id})
        return self._job(reply["job"])

    async def workflows(self) -> WorkflowCatalogue:
        reply = await self._request("workflows", {})
        workflows = reply.get("workflows")
        problems = reply.get("problems")
        return WorkflowCatalogue(
            workflows=[Workflow.from_dict(w) for w in workflows if isinstance(w, Mapping)] if isinstance(workflows, builtins.list) else [],
            problems=builtins.list(problems) if isinstance(problems, builtins.list) else [],
        )

    async def validate(self, workflow: str, *, backend: str | None = None) -> ValidationReport:
        reply = await self._request("validate", _without_none(workflow=workflow, backend=backend))
        errors = reply.get("errors")
        warnings = reply.get("warnings")
        errors = builtins.list(errors) if isinstance(errors, builtins.list) else []
        # The verdict is "valid" ("ok" is the envelope's); a service without it: judge by the errors.
        valid = reply.get("valid")
        return ValidationReport(
            ok=valid if isinstance(valid, bool) else not errors,
            errors=errors,
            warnings=builtins.list(warnings) if isinstance(warnings, builtins.list) else [],
        )

    async def list(
        self,
        *,
        state: str | Sequence[str] | None = None,
        conversation_id: str | None = None,
        character: str | None = None,
        limit: int | None = None,
        offset: int | None = None,
    ) -> JobPage:
        """One page of jobs and the total. ``state`` is one state or several (any of them);
        an empty sequence is no filter, as ``?state=`` over HTTP (it is not sent: the service
        refuses an empty list)."""
        states = state if state is None or isinstance(state, str) else (builtins.list(state) or None)
        body = _without_none(
            state=states,
            conversation_id=conversation_id, character=character, limit=limit, offset=offset,
        )
        reply = await self._request("list", body)
        jobs = reply.get("jobs")
        return JobPage(
            jobs=[self._job(j) for j in jobs if isinstance(j, Mapping)] if isinstance(jobs, builtins.list) else [],
            total=int(reply.get("total", 0)),
        )

    # ── waiting ───────────────────────────────────────────────────────────────────────────

    async def wait(self, job_id: str, *, timeout: float | None = None, on_progress: ProgressCallback | None = None) -> Job:
        """Returns the job once it is completed, failed or cancelled (it does not raise for
        a failed job: ``job.raise_for_error()`` does). Cannot miss the end: it subscribes to
        the job's events *before* asking for the job, so the final event either arrives or
        is already in the ``get`` reply; when no event comes for ``poll_interval`` seconds it
        asks again. ``on_progress`` (sync or async) sees the current state, every state
        change and every progress tick. ``WaitTimeout`` after ``timeout`` seconds."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        sub = await self.nc.subscribe(events_subject(self.prefix, job_id=job_id))
        try:
            job = await self.get(job_id)
            await _report(on_progress, progress_of_job(_job_dict(job)))
            if job.is_final:
                return job
            last_seq = 0
            while True:
                wait_for = self.poll_interval
                if deadline is not None:
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        raise WaitTimeout(f"job {job_id} not finished after {timeout} s (it keeps running)", recoverable=True, details={"job_id": job_id, "state": job.state})
                    wait_for = min(wait_for, remaining)
                try:
                    msg = await sub.next_msg(timeout=wait_for)
                except nats.errors.TimeoutError:
                    job = await self.get(job_id)
                    if job.is_final:
                        await _report(on_progress, progress_of_job(_job_dict(job)))
                        return job
                    continue
                event = parse_event(msg)
                if event is None or event.job_id != job_id:
                    continue
                if event.is_progress:
                    await _report(on_progress, event.to_progress())
                    continue
                seq = event.seq or 0
                if seq <= last_seq or _rank(event.state) < _rank(job.state):
                    continue  # a repeat, or a transition the `get` reply had already passed
                last_seq = seq
                await _report(on_progress, event.to_progress())
                if event.state in ("completed", "failed", "cancelled"):
                    return self._job(event.data)
        finally:
            await sub.unsubscribe()

    # ── events ────────────────────────────────────────────────────────────────────────────

    def events(
        self,
        conversation_id: str | None = None,
        since: int | datetime | None = None,
        *,
        job_id: str | None = None,
    ) -> EventStream:
        """Every event (of one conversation, or one job), repeats dropped by event id:
        ``async for event in client.events(…)``, or ``async with client.events(…) as stream``
        to be subscribed before doing what makes the events.

        With the service's JetStream stream on the server, events come from it: ``since``
        (a stream sequence, e.g. ``event.stream_sequence + 1`` saved before a restart, or a
        datetime) replays what was missed, then live events follow; without ``since`` only new
        events come. Without the stream (a NATS server without JetStream) events are live
        only and ``since`` cannot be honoured (a warning is logged)."""
        return EventStream(self, events_subject(self.prefix, conversation_id, job_id), since)

    async def has_event_stream(self) -> bool:
        """True when the NATS server has JetStream and the service's event stream."""
        try:
            await self.nc.jetstream().stream_info(self.stream)
            return True
        except (nats.js.errors.NotFoundError, nats.js.errors.ServiceUnavailableError, nats.errors.NoRespondersError, nats.errors.TimeoutError):
            return False

    # ── plumbing ──────────────────────────────────────────────────────────────────────────

    def _job(self, data: Mapping[str, Any], created: bool | None = None) -> Job:
        return Job.from_dict(data, client=self, created=created)

    async def _request(self, command: str, body: Mapping[str, Any]) -> dict[str, Any]:
        subject = command_subject(self.prefix, command)
        try:
            msg = await self.nc.request(subject, json.dumps(body).encode(), timeout=self.request_timeout)
        except nats.errors.NoRespondersError as error:
            raise ServiceUnavailable(
                f"nobody answers on {subject}",
                recoverable=True,
                details={"subject": subject},
                suggestion="Start chorus-visual (chorus-visual serve) with the same NATS server and nats.subject_prefix.",
            ) from error
        except nats.errors.TimeoutError as error:
            raise RequestTimeout(
                f"{command}: no reply within {self.request_timeout} s",
                recoverable=True,
                details={"subject": subject},
                suggestion="Send it again; with a request_id a repeated generate makes no second job.",
            ) from error
        try:
            reply = json.loads(msg.data)
        except ValueError as error:
            raise InternalError(f"{command}: the reply is not JSON", details={"subject": subject}) from error
        if not isinstance(reply, dict):
            raise InternalError(f"{command}: the reply is not a JSON object", details={"subject": subject})
        if reply.get("ok") is True:
            return reply
        failure = reply.get("error")
        raise error_from_dict(failure if isinstance(failure, Mapping) else {"code": "INTERNAL", "message": f"{command}: malformed error reply"})


_LIFECYCLE = ("queued", "submitted", "processing", "moving")


def _rank(state: str | None) -> int:
    """Position in the lifecycle; final states rank last (a job can fail from any state)."""
    return _LIFECYCLE.index(state) if state in _LIFECYCLE else len(_LIFECYCLE)


class EventStream:
    """The iterator ``ChorusVisual.events`` returns; subscribes on first use (or ``start()``)."""

    def __init__(self, client: ChorusVisual, subject: str, since: int | datetime | None) -> None:
        self._client = client
        self.subject = subject
        self._since = since
        self._sub: Any = None
        self._seen = RecentIds()
        #: Whether events come from the JetStream stream (replayable) or live core NATS.
        self.replayable: bool | None = None

    async def start(self) -> EventStream:
        if self._sub is not None:
            return self
        client, since = self._client, self._since
        if await client.has_event_stream():
            config = ConsumerConfig()
            if since is None:
                config.deliver_policy = DeliverPolicy.NEW
            elif isinstance(since, datetime):
                config.deliver_policy = DeliverPolicy.BY_START_TIME
                config.opt_start_time = since
            else:
                config.deliver_policy = DeliverPolicy.BY_START_SEQUENCE
                config.opt_start_seq = max(1, since)
            self._sub = await client.nc.jetstream().subscribe(self.subject, stream=client.stream, ordered_consumer=True, config=config)
            self.replayable = True
        else:
            if since is not None:
                logger.warning("no %s stream on this NATS server: events are live only, since=%r ignored", client.stream, since)
            self._sub = await client.nc.subscribe(self.subject)
            await client.nc.flush()  # the server has the subscription before start() returns
            self.replayable = False
        return self

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> Event:
        await self.start()
        while True:
            try:
                msg = await self._sub.next_msg(timeout=None)
            except (nats.errors.ConnectionClosedError, nats.errors.BadSubscriptionError):
                raise StopAsyncIteration from None
            event = parse_event(msg)
            if event is not None and self._seen.first_time(event.id):
                return event

    async def aclose(self) -> None:
        sub, self._sub = self._sub, None
        if sub is not None:
            try:
                await sub.unsubscribe()
            except nats.errors.Error:
                pass  # the connection is already closed: nothing left to unsubscribe

    async def __aenter__(self) -> EventStream:
        return await self.start()

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.aclose()


def _without_none(**fields: Any) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


def _job_dict(job: Job) -> dict[str, Any]:
    return {"id": job.id, "state": job.state, "progress": job.progress}


async def _report(callback: ProgressCallback | None, progress: Progress) -> None:
    if callback is None:
        return
    outcome = callback(progress)
    if inspect.isawaitable(outcome):
        await outcome
