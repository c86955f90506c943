"""Typed views of what the service sends: jobs, their results, progress, workflows.

Each ``from_dict`` reads the service's JSON (snake_case job views, camelCase result files,
as the service writes them) and keeps what it did not recognise in ``extra``, so a newer
service with more fields never breaks an older client.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Literal, Mapping, Union

from ._errors import ChorusVisualError, JobCancelled, error_from_dict

if TYPE_CHECKING:
    from ._client import ChorusVisual

JobState = Literal["queued", "submitted", "processing", "moving", "completed", "failed", "cancelled"]
FINAL_STATES: frozenset[str] = frozenset({"completed", "failed", "cancelled"})


def _str(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    return value if isinstance(value, str) else None


def _int(data: Mapping[str, Any], key: str) -> int | None:
    value = data.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _time(data: Mapping[str, Any], key: str) -> datetime | None:
    value = data.get(key)
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


@dataclass(frozen=True)
class Thumbnail:
    """The smaller copy the service writes beside an image (config ``thumbnails.*``)."""

    path: str
    absolute_path: str
    media_type: str
    width: int
    height: int
    bytes: int

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Thumbnail:
        return cls(
            path=str(data["path"]),
            absolute_path=str(data["absolutePath"]),
            media_type=str(data["mediaType"]),
            width=int(data["width"]),
            height=int(data["height"]),
            bytes=int(data["bytes"]),
        )


@dataclass(frozen=True)
class ResultFile:
    """One file a completed job delivered into the conversation folder."""

    kind: str
    #: Relative to the service's data folder, e.g. ``conversations/c1/images/<job>.png``.
    path: str
    absolute_path: str
    media_type: str
    bytes: int
    sha256: str
    width: int | None = None
    height: int | None = None
    thumbnail: Thumbnail | None = None
    original: Mapping[str, Any] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ResultFile:
        known = {"kind", "path", "absolutePath", "mediaType", "bytes", "sha256", "width", "height", "thumbnail", "original"}
        thumbnail = data.get("thumbnail")
        original = data.get("original")
        return cls(
            kind=str(data["kind"]),
            path=str(data["path"]),
            absolute_path=str(data["absolutePath"]),
            media_type=str(data["mediaType"]),
            bytes=int(data["bytes"]),
            sha256=str(data["sha256"]),
            width=_int(data, "width"),
            height=_int(data, "height"),
            thumbnail=Thumbnail.from_dict(thumbnail) if isinstance(thumbnail, Mapping) else None,
            original=dict(original) if isinstance(original, Mapping) else {},
            extra={k: v for k, v in data.items() if k not in known},
        )


@dataclass(frozen=True)
class JobResult:
    files: list[ResultFile]
    #: The metadata sidecar, relative to the data folder.
    metadata_path: str

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> JobResult:
        files = data.get("files")
        return cls(
            files=[ResultFile.from_dict(f) for f in files if isinstance(f, Mapping)] if isinstance(files, list) else [],
            metadata_path=str(data.get("metadataPath", "")),
        )

    def first(self, kind: str) -> ResultFile | None:
        """The first file of a kind (``image``, ``video``, ``audio``), if any."""
        return next((f for f in self.files if f.kind == kind), None)


@dataclass(frozen=True)
class Progress:
    """A job's progress or state change, as ``Job.wait(on_progress=…)`` reports it."""

    job_id: str
    state: str
    value: int | None = None
    max: int | None = None
    node: str | None = None
    #: 0–100 when the service knows the total, else None.
    percent: float | None = None


ProgressCallback = Callable[[Progress], Union[Awaitable[None], None]]


@dataclass(frozen=True)
class Timings:
    """The job's timing breakdown (see the service's docs/driving-from-chorus-engine.md, "Timings").

    ``lost_ms`` (runs ComfyUI forgot, and re-queueing) and ``service_down_ms`` (a run that
    finished while no service watched it) are 0 for a job ComfyUI ran once while the service
    watched, and None where the service cannot tell (a job stored before it recorded runs).
    """

    queue_wait_ms: int | None = None
    comfy_queue_wait_ms: int | None = None
    generation_ms: int | None = None
    file_move_ms: int | None = None
    total_ms: int | None = None
    lost_ms: int | None = None
    service_down_ms: int | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Timings:
        return cls(
            *(
                _int(data, k)
                for k in ("queue_wait_ms", "comfy_queue_wait_ms", "generation_ms", "file_move_ms", "total_ms", "lost_ms", "service_down_ms")
            )
        )


@dataclass
class Job:
    """A job as the service reports it (``get``, replies and events), plus what to do with it."""

    id: str
    state: str
    substate: str | None
    conversation_id: str
    thread_id: str | None
    message_id: str | None
    character: str | None
    workflow: str
    prompt: str | None
    negative_prompt: str | None
    seed: int | None
    prompt_source: str | None
    backend: str | None
    comfy_prompt_id: str | None
    priority: int
    attempts: int
    progress: Mapping[str, Any] | None
    result: JobResult | None
    #: The failure as the exception class of its code (``raise job.error``); None unless failed.
    error: ChorusVisualError | None
    created_at: datetime | None
    submitted_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    completed_at: datetime | None
    timings: Timings
    #: The job this one regenerates (``regenerate``), and the jobs that regenerated it.
    regenerated_from: str | None = None
    regenerations: list[str] = field(default_factory=list)
    #: Not a failure: while the job waits for a slot and no ComfyUI backend is reachable, that
    #: reason as the exception class of its code (``ComfyUnavailable``; never raised for you).
    note: ChorusVisualError | None = None
    #: From ``generate``/``regenerate``: False when ``request_id`` named an existing job.
    created: bool | None = None
    #: Fields this client version does not model, as sent.
    extra: dict[str, Any] = field(default_factory=dict)
    _client: ChorusVisual | None = field(default=None, repr=False, compare=False)

    _KNOWN = frozenset(
        {
            "id", "state", "substate", "conversation_id", "thread_id", "message_id", "character", "workflow",
            "prompt", "negative_prompt", "seed", "prompt_source", "backend", "comfy_prompt_id", "priority",
            "attempts", "progress", "result", "error", "created_at", "submitted_at", "started_at", "finished_at",
            "completed_at", "timings", "regenerated_from", "regenerations", "note",
        }
    )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], client: ChorusVisual | None = None, created: bool | None = None) -> Job:
        result = data.get("result")
        error = data.get("error")
        progress = data.get("progress")
        timings = data.get("timings")
        regenerations = data.get("regenerations")
        note = data.get("note")
        return cls(
            id=str(data["id"]),
            state=str(data["state"]),
            substate=_str(data, "substate"),
            conversation_id=str(data.get("conversation_id", "")),
            thread_id=_str(data, "thread_id"),
            message_id=_str(data, "message_id"),
            character=_str(data, "character"),
            workflow=str(data.get("workflow", "")),
            prompt=_str(data, "prompt"),
            negative_prompt=_str(data, "negative_prompt"),
            seed=_int(data, "seed"),
            prompt_source=_str(data, "prompt_source"),
            backend=_str(data, "backend"),
            comfy_prompt_id=_str(data, "comfy_prompt_id"),
            priority=_int(data, "priority") or 0,
            attempts=_int(data, "attempts") or 0,
            progress=dict(progress) if isinstance(progress, Mapping) else None,
            result=JobResult.from_dict(result) if isinstance(result, Mapping) else None,
            error=error_from_dict(error) if isinstance(error, Mapping) else None,
            created_at=_time(data, "created_at"),
            submitted_at=_time(data, "submitted_at"),
            started_at=_time(data, "started_at"),
            finished_at=_time(data, "finished_at"),
            completed_at=_time(data, "completed_at"),
            timings=Timings.from_dict(timings) if isinstance(timings, Mapping) else Timings(),
            regenerated_from=_str(data, "regenerated_from"),
            regenerations=[str(r) for r in regenerations] if isinstance(regenerations, list) else [],
            note=error_from_dict(note) if isinstance(note, Mapping) else None,
            created=created,
            extra={k: v for k, v in data.items() if k not in cls._KNOWN},
            _client=client,
        )

    @property
    def is_final(self) -> bool:
        return self.state in FINAL_STATES

    def raise_for_error(self) -> Job:
        """Raises the job's error (failed) or ``JobCancelled`` (cancelled); returns the job otherwise."""
        if self.state == "failed" and self.error is not None:
            raise self.error
        if self.state == "cancelled":
            raise JobCancelled(f"job {self.id} was cancelled", details={"job_id": self.id})
        return self

    async def wait(self, timeout: float | None = None, on_progress: ProgressCallback | None = None) -> Job:
        """Waits for the job's final state (see ``ChorusVisual.wait``); returns the final job."""
        return await self._owner().wait(self.id, timeout=timeout, on_progress=on_progress)

    async def refresh(self) -> Job:
        return await self._owner().get(self.id)

    async def cancel(self) -> Job:
        return await self._owner().cancel(self.id)

    def _owner(self) -> ChorusVisual:
        if self._client is None:
            raise RuntimeError("this Job was built without a client; use ChorusVisual.wait(job_id)")
        return self._client


@dataclass(frozen=True)
class JobPage:
    """``list``: one page of jobs and how many match in total."""

    jobs: list[Job]
    total: int


@dataclass(frozen=True)
class Workflow:
    name: str
    type: str
    placeholders: list[str]
    problems: list[Any]
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Workflow:
        placeholders = data.get("placeholders")
        problems = data.get("problems")
        return cls(
            name=str(data["name"]),
            type=str(data.get("type", "")),
            placeholders=[str(p) for p in placeholders] if isinstance(placeholders, list) else [],
            problems=list(problems) if isinstance(problems, list) else [],
            extra={k: v for k, v in data.items() if k not in {"name", "type", "placeholders", "problems"}},
        )


@dataclass(frozen=True)
class WorkflowCatalogue:
    workflows: list[Workflow]
    #: Files that failed to load, as the service describes them.
    problems: list[Any]

    def names(self) -> list[str]:
        return [w.name for w in self.workflows]


@dataclass(frozen=True)
class ValidationReport:
    ok: bool
    errors: list[Any]
    warnings: list[Any]
