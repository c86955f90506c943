"""Errors: one class per chorus-visual error code, all under ``ChorusVisualError``.

The service sends errors as ``{code, message, recoverable, details?, suggestion?}`` (in a
command reply, or as ``job.error`` of a failed job). ``error_from_dict`` turns that into the
class for its code, so callers can ``except QueueFull:`` instead of comparing strings. A code
this version does not know still becomes a ``ChorusVisualError`` with its ``code`` kept.
"""

from __future__ import annotations

from typing import Any, ClassVar, Mapping


class ChorusVisualError(Exception):
    """Base of every error this package raises."""

    #: The stable code the service uses; subclasses fix it.
    default_code: ClassVar[str] = "ERROR"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        recoverable: bool = False,
        details: Any = None,
        suggestion: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code: str = code if code is not None else self.default_code
        self.message: str = message
        self.recoverable: bool = recoverable
        self.details: Any = details
        self.suggestion: str | None = suggestion

    def __str__(self) -> str:
        text = f"{self.code}: {self.message}"
        return f"{text} ({self.suggestion})" if self.suggestion else text

    def to_dict(self) -> dict[str, Any]:
        """The error in the service's own JSON shape."""
        out: dict[str, Any] = {"code": self.code, "message": self.message, "recoverable": self.recoverable}
        if self.details is not None:
            out["details"] = self.details
        if self.suggestion is not None:
            out["suggestion"] = self.suggestion
        return out


# One class per service error code (src/errors/error-codes.ts).
class ComfyUnavailable(ChorusVisualError):
    default_code = "COMFY_UNAVAILABLE"


class ComfyLost(ChorusVisualError):
    default_code = "COMFY_LOST"


class WorkflowNotFound(ChorusVisualError):
    default_code = "WORKFLOW_NOT_FOUND"


class WorkflowInvalid(ChorusVisualError):
    default_code = "WORKFLOW_INVALID"


class WorkflowNodeError(ChorusVisualError):
    default_code = "WORKFLOW_NODE_ERROR"


class ExecutionError(ChorusVisualError):
    default_code = "EXECUTION_ERROR"


class GenerationTimeout(ChorusVisualError):
    default_code = "GENERATION_TIMEOUT"


class QueueWaitTimeout(ChorusVisualError):
    default_code = "QUEUE_WAIT_TIMEOUT"


class NoOutput(ChorusVisualError):
    default_code = "NO_OUTPUT"


class OutputFileNotFound(ChorusVisualError):
    default_code = "OUTPUT_FILE_NOT_FOUND"


class FileMoveFailed(ChorusVisualError):
    default_code = "FILE_MOVE_FAILED"


class QueueFull(ChorusVisualError):
    default_code = "QUEUE_FULL"


class PromptGenerationFailed(ChorusVisualError):
    default_code = "PROMPT_GENERATION_FAILED"


class InvalidCommand(ChorusVisualError):
    default_code = "INVALID_COMMAND"


class Unauthorized(ChorusVisualError):
    """The HTTP API refused the request's bearer token (missing or wrong); never a NATS reply."""

    default_code = "UNAUTHORIZED"


class JobNotFound(ChorusVisualError):
    default_code = "JOB_NOT_FOUND"


class ConfigInvalid(ChorusVisualError):
    default_code = "CONFIG_INVALID"


class StorageUnavailable(ChorusVisualError):
    default_code = "STORAGE_UNAVAILABLE"


class StoreLocked(ChorusVisualError):
    """Another process drives the service's SQLite database (``details["holder"]`` names it),
    or, on PostgreSQL, another running instance renews the ``--instance-id`` a ``serve`` was
    started with (``details["instance_id"]`` names it, no holder).

    Raised by a second ``serve`` or a command-line tool, not sent in a command reply.
    """

    default_code = "STORE_LOCKED"


class CharacterNotFound(ChorusVisualError):
    default_code = "CHARACTER_NOT_FOUND"


class OwnershipLost(ChorusVisualError):
    """Another chorus-visual instance drives the job now (several instances on one database)."""

    default_code = "OWNERSHIP_LOST"


class EventsUnavailable(ChorusVisualError):
    default_code = "EVENTS_UNAVAILABLE"


class RequestIdConflict(ChorusVisualError):
    """The ``request_id`` was used before for a different request (``details["job_id"]``)."""

    default_code = "REQUEST_ID_CONFLICT"


class InstanceLeaseLost(ChorusVisualError):
    """The instance that got the command stalled past its lease (several instances on one
    database) and is stopping; send the command again and another instance answers."""

    default_code = "INSTANCE_LEASE_LOST"


class InternalError(ChorusVisualError):
    default_code = "INTERNAL"


# Raised by the client itself, never sent by the service.
class JobCancelled(ChorusVisualError):
    """``Job.raise_for_error()`` on a cancelled job: there is no result to use."""

    default_code = "CANCELLED"


class ServiceUnavailable(ChorusVisualError):
    """No chorus-visual service answers: nobody on the command subject (raised by this client:
    not running, or another prefix), or the service a command-line tool reached has stopped."""

    default_code = "SERVICE_UNAVAILABLE"


class ChorusVisualTimeout(ChorusVisualError, TimeoutError):
    """Base of the client's timeouts; also a builtin ``TimeoutError``."""

    default_code = "TIMEOUT"


class RequestTimeout(ChorusVisualTimeout):
    """A command got no reply in time. With a ``request_id`` it is safe to send again."""

    default_code = "REQUEST_TIMEOUT"


class WaitTimeout(ChorusVisualTimeout):
    """``Job.wait()`` ran out of time; the job itself goes on (cancel it if it must stop)."""

    default_code = "WAIT_TIMEOUT"


ERROR_CLASSES: Mapping[str, type[ChorusVisualError]] = {
    cls.default_code: cls
    for cls in (
        ComfyUnavailable,
        ComfyLost,
        WorkflowNotFound,
        WorkflowInvalid,
        WorkflowNodeError,
        ExecutionError,
        GenerationTimeout,
        QueueWaitTimeout,
        NoOutput,
        OutputFileNotFound,
        FileMoveFailed,
        QueueFull,
        PromptGenerationFailed,
        InvalidCommand,
        Unauthorized,
        JobNotFound,
        ConfigInvalid,
        StorageUnavailable,
        StoreLocked,
        CharacterNotFound,
        OwnershipLost,
        EventsUnavailable,
        RequestIdConflict,
        InstanceLeaseLost,
        InternalError,
        ServiceUnavailable,
    )
}


def error_from_dict(data: Mapping[str, Any]) -> ChorusVisualError:
    """The service's error JSON as the exception class for its code."""
    code = str(data.get("code", "INTERNAL"))
    cls = ERROR_CLASSES.get(code, ChorusVisualError)
    suggestion = data.get("suggestion")
    return cls(
        str(data.get("message", code)),
        code=code,
        recoverable=bool(data.get("recoverable", False)),
        details=data.get("details"),
        suggestion=suggestion if isinstance(suggestion, str) else None,
    )
