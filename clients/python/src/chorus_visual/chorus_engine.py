"""Drop-ins for Chorus Engine's image, video and audio orchestrators.

The functions take Chorus Engine's own arguments (``db``, ``character``, ``workflow_entry``…,
which they read but never write) plus a keyword ``client``, start a chorus-visual job, wait
for it, and return what Chorus Engine's orchestrator returns: the same keys, paths absolute,
``generation_time`` in seconds (from the job's creation to its completion, as the service
measured it). The ``…Orchestrator`` classes hold a client and have the orchestrators' exact
method signatures, so Chorus Engine only changes where it builds them.

Ids: ``image_id``/``video_id``/``audio_id`` are chorus-visual job ids (strings); give one to
``regenerate_image``. Errors raise the ``ChorusVisualError`` subclass of their code
(``generate_audio`` returns ``success: False`` instead, as Chorus Engine's does).
"""

from __future__ import annotations

import os
from typing import Any, Awaitable, Callable, Iterable, Optional, TypedDict, Union

from ._client import ChorusVisual
from ._errors import ChorusVisualError, InvalidCommand, NoOutput
from ._models import Job, Progress, ProgressCallback, ResultFile

#: Chorus Engine's progress callback: ``async def cb(status: dict) -> None``.
ChorusEngineCallback = Callable[[dict[str, Any]], Union[Awaitable[None], None]]


class ImageResult(TypedDict):
    image_id: str
    file_path: str
    thumbnail_path: Optional[str]
    width: Optional[int]
    height: Optional[int]
    generation_time: float
    prompt: Optional[str]
    negative_prompt: Optional[str]
    seed: Optional[int]


class VideoResult(TypedDict):
    """The fields of Chorus Engine's ``GeneratedVideo`` record, as a dict."""

    video_id: str
    conversation_id: str
    file_path: str
    thumbnail_path: Optional[str]
    format: str
    duration_seconds: Optional[float]
    width: Optional[int]
    height: Optional[int]
    generation_time_seconds: float
    generation_time: float
    prompt: Optional[str]
    negative_prompt: Optional[str]
    seed: Optional[int]
    comfy_prompt_id: Optional[str]


class AudioResult(TypedDict):
    """The attributes of Chorus Engine's ``AudioResult``, plus the file and job id."""

    success: bool
    audio_id: Optional[str]
    audio_filename: Optional[str]
    file_path: Optional[str]
    #: Generation time in seconds (Chorus Engine's name for it).
    duration: Optional[float]
    generation_time: Optional[float]
    error_message: Optional[str]
    error_code: Optional[str]
    preprocessed_text: Optional[str]


_STATUS = {"queued": "queued", "submitted": "queued", "processing": "running", "moving": "running", "completed": "completed"}


def progress_callback_adapter(callback: ChorusEngineCallback) -> ProgressCallback:
    """Chorus Engine's ``progress_callback(status_dict)`` as ``on_progress``. The dicts have
    the keys its ComfyUI client sent: ``status`` (queued | running | completed | failed),
    ``progress`` (0.0–1.0), ``current_node``, ``error``."""

    async def on_progress(update: Progress) -> None:
        status = _STATUS.get(update.state, "failed")
        fraction = 1.0 if status == "completed" else (update.percent / 100 if update.percent is not None else 0.0)
        outcome = callback({"status": status, "progress": fraction, "current_node": update.node, "error": None, "job_id": update.job_id})
        if outcome is not None:
            await outcome

    return on_progress


async def generate_image(
    db: Any,
    conversation_id: str,
    thread_id: str | int | None,
    character: Any,
    prompt: str,
    negative_prompt: str | None = None,
    seed: int | None = None,
    message_id: str | int | None = None,
    progress_callback: ChorusEngineCallback | None = None,
    workflow_name: str | None = None,
    *,
    client: ChorusVisual,
    request_id: str | None = None,
    timeout: float | None = None,
) -> ImageResult:
    """Chorus Engine's ``generate_image``: ``prompt`` is used as is; the workflow is
    ``workflow_name`` or the character's default in chorus-visual's character file."""
    job = await client.generate(
        conversation_id=str(conversation_id),
        character=_character_id(character),
        workflow=workflow_name,
        prompt=prompt,
        negative_prompt=negative_prompt,
        seed=seed,
        thread_id=_optional_id(thread_id),
        message_id=_optional_id(message_id),
        request_id=request_id,
    )
    return _image_result(await _finish(job, progress_callback, timeout))


async def regenerate_image(
    db: Any,
    image_id: str,
    new_seed: int | None = None,
    *,
    client: ChorusVisual,
    progress_callback: ChorusEngineCallback | None = None,
    request_id: str | None = None,
    timeout: float | None = None,
) -> ImageResult:
    """Chorus Engine's ``regenerate_image``: the same prompt and settings, a new seed
    (random unless ``new_seed``); ``image_id`` is the ``image_id`` a drop-in returned."""
    job = await client.regenerate(str(image_id), seed=new_seed, request_id=request_id)
    return _image_result(await _finish(job, progress_callback, timeout))


async def generate_video(
    video_repository: Any,
    conversation_id: str,
    thread_id: str | int | None,
    messages: Iterable[Any] | None,
    character: Any,
    character_name: str | None,
    character_id: str | None,
    workflow_entry: Any,
    prompt: str | None = None,
    custom_instruction: str | None = None,
    trigger_words: list[str] | None = None,
    negative_prompt: str | None = None,
    seed: int | None = None,
    *,
    client: ChorusVisual,
    progress_callback: ChorusEngineCallback | None = None,
    request_id: str | None = None,
    timeout: float | None = None,
) -> VideoResult:
    """Chorus Engine's ``generate_video``. Without ``prompt`` the service writes one from
    ``custom_instruction`` (or the last message); ``trigger_words`` come from chorus-visual's
    character file instead. The workflow is ``workflow_entry.workflow_name`` (or a name)."""
    user_request = None if prompt else (custom_instruction or _last_message_text(messages))
    job = await client.generate(
        conversation_id=str(conversation_id),
        character=character_id or _character_id(character),
        workflow=_workflow_name(workflow_entry),
        prompt=prompt or None,
        user_request=user_request,
        negative_prompt=negative_prompt,
        seed=seed,
        thread_id=_optional_id(thread_id),
        request_id=request_id,
    )
    job = await _finish(job, progress_callback, timeout)
    file = _file_of(job, "video")
    seconds = generation_seconds(job)
    return VideoResult(
        video_id=job.id,
        conversation_id=job.conversation_id,
        file_path=file.absolute_path,
        thumbnail_path=file.thumbnail.absolute_path if file.thumbnail else None,
        format=os.path.splitext(file.path)[1].lstrip(".").lower(),
        duration_seconds=None,
        width=file.width,
        height=file.height,
        generation_time_seconds=seconds,
        generation_time=seconds,
        prompt=job.prompt,
        negative_prompt=job.negative_prompt,
        seed=job.seed,
        comfy_prompt_id=job.comfy_prompt_id,
    )


async def generate_audio(
    message_id: str | int,
    text: str,
    character_id: str,
    voice_sample_repository: Any = None,
    audio_repository: Any = None,
    workflow_name: str | None = None,
    *,
    client: ChorusVisual,
    conversation_id: str | None = None,
    progress_callback: ChorusEngineCallback | None = None,
    request_id: str | None = None,
    timeout: float | None = None,
) -> AudioResult:
    """Chorus Engine's ``generate_audio`` (ComfyUI text-to-speech): ``text`` is spoken as
    given. Failures come back as ``success: False`` with the message and code, like Chorus
    Engine's. Files go to ``conversations/{conversation_id or character_id}/audio/``."""
    try:
        if workflow_name is None:
            # A character's default workflow in chorus-visual is its image workflow.
            raise InvalidCommand(
                "generate_audio needs workflow_name: chorus-visual has no per-character audio default",
                suggestion="Pass the text-to-speech workflow's name, or AudioGenerationOrchestrator(default_workflow=…).",
            )
        job = await client.generate(
            conversation_id=str(conversation_id or character_id),
            character=character_id,
            workflow=workflow_name,
            prompt=text,
            message_id=_optional_id(message_id),
            request_id=request_id,
        )
        job = await _finish(job, progress_callback, timeout)
        file = _file_of(job, "audio")
    except ChorusVisualError as error:
        return AudioResult(
            success=False, audio_id=None, audio_filename=None, file_path=None, duration=None, generation_time=None,
            error_message=str(error), error_code=error.code, preprocessed_text=None,
        )
    seconds = generation_seconds(job)
    return AudioResult(
        success=True,
        audio_id=job.id,
        audio_filename=os.path.basename(file.absolute_path),
        file_path=file.absolute_path,
        duration=seconds,
        generation_time=seconds,
        error_message=None,
        error_code=None,
        preprocessed_text=job.prompt,
    )


class ImageGenerationOrchestrator:
    """Stands where Chorus Engine builds its ``ImageGenerationOrchestrator``."""

    def __init__(self, client: ChorusVisual, *, timeout: float | None = None) -> None:
        self.client = client
        self.timeout = timeout

    async def generate_image(
        self,
        db: Any,
        conversation_id: str,
        thread_id: str | int | None,
        character: Any,
        prompt: str,
        negative_prompt: str | None = None,
        seed: int | None = None,
        message_id: str | int | None = None,
        progress_callback: ChorusEngineCallback | None = None,
        workflow_name: str | None = None,
    ) -> ImageResult:
        return await generate_image(
            db, conversation_id, thread_id, character, prompt, negative_prompt, seed, message_id, progress_callback,
            workflow_name, client=self.client, timeout=self.timeout,
        )

    async def regenerate_image(self, db: Any, image_id: str, new_seed: int | None = None) -> ImageResult:
        return await regenerate_image(db, image_id, new_seed, client=self.client, timeout=self.timeout)


class VideoGenerationOrchestrator:
    """Stands where Chorus Engine builds its ``VideoGenerationOrchestrator``."""

    def __init__(self, client: ChorusVisual, *, timeout: float | None = 600) -> None:
        self.client = client
        self.timeout = timeout

    async def generate_video(
        self,
        video_repository: Any,
        conversation_id: str,
        thread_id: str | int | None,
        messages: Iterable[Any] | None,
        character: Any,
        character_name: str | None,
        character_id: str | None,
        workflow_entry: Any,
        prompt: str | None = None,
        custom_instruction: str | None = None,
        trigger_words: list[str] | None = None,
        negative_prompt: str | None = None,
        seed: int | None = None,
    ) -> VideoResult:
        return await generate_video(
            video_repository, conversation_id, thread_id, messages, character, character_name, character_id,
            workflow_entry, prompt, custom_instruction, trigger_words, negative_prompt, seed,
            client=self.client, timeout=self.timeout,
        )


class AudioGenerationOrchestrator:
    """Stands where Chorus Engine builds its ``AudioGenerationOrchestrator``."""

    def __init__(self, client: ChorusVisual, *, timeout: float | None = None, default_workflow: str | None = None) -> None:
        self.client = client
        self.timeout = timeout
        self.default_workflow = default_workflow

    async def generate_audio(
        self,
        message_id: str | int,
        text: str,
        character_id: str,
        voice_sample_repository: Any = None,
        audio_repository: Any = None,
        workflow_name: str | None = None,
        conversation_id: str | None = None,
    ) -> AudioResult:
        return await generate_audio(
            message_id, text, character_id, voice_sample_repository, audio_repository,
            workflow_name or self.default_workflow, client=self.client, conversation_id=conversation_id, timeout=self.timeout,
        )


def generation_seconds(job: Job) -> float:
    """From the job's creation to its completion, in seconds, as the service measured it."""
    if job.timings.total_ms is not None:
        return job.timings.total_ms / 1000
    if job.created_at is not None and job.completed_at is not None:
        return (job.completed_at - job.created_at).total_seconds()
    return 0.0


async def _finish(job: Job, callback: ChorusEngineCallback | None, timeout: float | None) -> Job:
    on_progress = progress_callback_adapter(callback) if callback is not None else None
    final = await job.wait(timeout=timeout, on_progress=on_progress)
    if callback is not None and final.state == "failed" and final.error is not None:
        outcome = callback({"status": "failed", "progress": 0.0, "current_node": None, "error": str(final.error), "job_id": final.id})
        if outcome is not None:
            await outcome
    return final.raise_for_error()


def _image_result(job: Job) -> ImageResult:
    file = _file_of(job, "image")
    return ImageResult(
        image_id=job.id,
        file_path=file.absolute_path,
        thumbnail_path=file.thumbnail.absolute_path if file.thumbnail else None,
        width=file.width,
        height=file.height,
        generation_time=generation_seconds(job),
        prompt=job.prompt,
        negative_prompt=job.negative_prompt,
        seed=job.seed,
    )


def _file_of(job: Job, kind: str) -> ResultFile:
    file = job.result.first(kind) if job.result else None
    if file is None:
        raise NoOutput(f"job {job.id} completed without a {kind} file", details={"job_id": job.id, "kind": kind})
    return file


def _character_id(character: Any) -> str | None:
    if character is None or isinstance(character, str):
        return character
    ident = getattr(character, "id", None)
    return str(ident) if ident is not None else None


def _workflow_name(entry: Any) -> str | None:
    if entry is None or isinstance(entry, str):
        return entry
    name = getattr(entry, "workflow_name", None)
    return str(name) if name is not None else None


def _optional_id(value: str | int | None) -> str | None:
    return None if value is None else str(value)


def _last_message_text(messages: Iterable[Any] | None) -> str | None:
    last = None
    for message in messages or ():
        content = message.get("content") if isinstance(message, dict) else getattr(message, "content", None)
        if isinstance(content, str) and content.strip():
            last = content
    return last
