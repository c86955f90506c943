"""chorus_visual: the Python client of chorus-visual (commands, waiting, events over NATS).

    from chorus_visual import ChorusVisual

    client = await ChorusVisual.connect("nats://127.0.0.1:4222")
    job = await client.generate(conversation_id="c1", character="nova", user_request="a selfie")
    job = await job.wait(timeout=600, on_progress=print)
    job.raise_for_error()
    print(job.result.files[0].absolute_path)

``chorus_visual.chorus_engine`` has drop-ins shaped like Chorus Engine's orchestrators.
"""

from ._client import DEFAULT_PREFIX, DEFAULT_STREAM, ChorusVisual, EventStream
from ._errors import (
    ERROR_CLASSES,
    CharacterNotFound,
    ChorusVisualError,
    ChorusVisualTimeout,
    ComfyLost,
    ComfyUnavailable,
    ConfigInvalid,
    EventsUnavailable,
    ExecutionError,
    FileMoveFailed,
    GenerationTimeout,
    InstanceLeaseLost,
    InternalError,
    InvalidCommand,
    JobCancelled,
    JobNotFound,
    NoOutput,
    OutputFileNotFound,
    OwnershipLost,
    PromptGenerationFailed,
    QueueFull,
    QueueWaitTimeout,
    RequestIdConflict,
    RequestTimeout,
    ServiceUnavailable,
    StorageUnavailable,
    StoreLocked,
    Unauthorized,
    WaitTimeout,
    WorkflowInvalid,
    WorkflowNodeError,
    WorkflowNotFound,
    error_from_dict,
)
from ._events import Event
from ._models import (
    FINAL_STATES,
    Job,
    JobPage,
    JobResult,
    Progress,
    ProgressCallback,
    ResultFile,
    Thumbnail,
    Timings,
    ValidationReport,
    Workflow,
    WorkflowCatalogue,
)
from ._subjects import decode_token, encode_token

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_PREFIX", "DEFAULT_STREAM", "ERROR_CLASSES", "FINAL_STATES",
    "CharacterNotFound", "ChorusVisual", "ChorusVisualError", "ChorusVisualTimeout", "ComfyLost", "ComfyUnavailable",
    "ConfigInvalid", "Event", "EventStream", "EventsUnavailable", "ExecutionError", "FileMoveFailed", "GenerationTimeout", "InstanceLeaseLost", "InternalError", "InvalidCommand",
    "Job", "JobCancelled", "JobNotFound", "JobPage", "JobResult", "NoOutput", "OutputFileNotFound", "OwnershipLost", "Progress",
    "ProgressCallback", "PromptGenerationFailed", "QueueFull", "QueueWaitTimeout", "RequestIdConflict", "RequestTimeout", "ResultFile",
    "ServiceUnavailable", "StorageUnavailable", "StoreLocked", "Thumbnail", "Timings", "Unauthorized", "ValidationReport", "WaitTimeout", "Workflow",
    "WorkflowCatalogue", "WorkflowInvalid", "WorkflowNodeError", "WorkflowNotFound", "__version__", "decode_token",
    "encode_token", "error_from_dict",
]
