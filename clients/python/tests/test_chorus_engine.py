"""The Chorus Engine drop-ins: its arguments in, its orchestrators' dicts out, with readable
files and thumbnails, against the real service."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from chorus_visual import ChorusVisual, ExecutionError
from chorus_visual.chorus_engine import (
    AudioGenerationOrchestrator,
    ImageGenerationOrchestrator,
    VideoGenerationOrchestrator,
    generate_audio,
    generate_image,
    regenerate_image,
)

from .processes import Simulator

IMAGE_KEYS = {"image_id", "file_path", "thumbnail_path", "width", "height", "generation_time", "prompt", "negative_prompt", "seed"}


def _character(ident: str) -> Any:
    """What Chorus Engine passes: a CharacterConfig with an ``id``."""
    return SimpleNamespace(id=ident, name=ident.title())


async def test_generate_image_returns_chorus_engines_dict_with_a_readable_file_and_thumbnail(client: ChorusVisual, conversation: str) -> None:
    statuses: list[dict[str, Any]] = []

    async def progress_callback(status: dict[str, Any]) -> None:
        statuses.append(status)

    result = await generate_image(
        None, conversation, "thread-1", _character("nova"), "nova painting a nebula", negative_prompt="blurry",
        seed=42, message_id=17, progress_callback=progress_callback, client=client, timeout=60,
    )

    assert set(result) == IMAGE_KEYS
    image = Path(result["file_path"])
    assert image.is_absolute() and image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert result["thumbnail_path"] is not None
    thumbnail = Path(result["thumbnail_path"])
    assert thumbnail.is_absolute() and thumbnail.parent == image.parent
    head = thumbnail.read_bytes()[:12]
    assert head[:4] == b"RIFF" and head[8:] == b"WEBP"
    assert isinstance(result["width"], int) and isinstance(result["height"], int) and result["width"] > 0
    assert isinstance(result["generation_time"], float) and 0 < result["generation_time"] < 60
    assert (result["prompt"], result["negative_prompt"], result["seed"]) == ("nova painting a nebula", "blurry", 42)
    # The callback saw Chorus Engine's status dicts, ending in completed.
    assert {"status", "progress", "current_node", "error"} <= set(statuses[0])
    assert "running" in [s["status"] for s in statuses]
    assert statuses[-1]["status"] == "completed" and statuses[-1]["progress"] == 1.0
    job = await client.get(result["image_id"])
    assert (job.conversation_id, job.thread_id, job.message_id) == (conversation, "thread-1", "17")


async def test_regenerate_image_gives_a_new_image_from_the_same_prompt(client: ChorusVisual, conversation: str) -> None:
    orchestrator = ImageGenerationOrchestrator(client, timeout=60)
    first = await orchestrator.generate_image(None, conversation, "t", _character("nova"), "nova on a rooftop", seed=7)
    again = await orchestrator.regenerate_image(None, first["image_id"])
    assert set(again) == IMAGE_KEYS
    assert again["image_id"] != first["image_id"]
    assert again["prompt"] == first["prompt"] and again["seed"] != 7
    assert Path(again["file_path"]).is_file() and again["thumbnail_path"] and Path(again["thumbnail_path"]).is_file()
    seeded = await regenerate_image(None, first["image_id"], 555, client=client, timeout=60)
    assert seeded["seed"] == 555


async def test_generate_image_raises_the_error_class_and_reports_failed(client: ChorusVisual, simulator: Simulator, conversation: str) -> None:
    simulator.fault("failNodeClass", "SaveImage")
    statuses: list[str] = []

    def progress_callback(status: dict[str, Any]) -> None:
        statuses.append(status["status"])

    with pytest.raises(ExecutionError):
        await generate_image(None, conversation, "t", None, "x", progress_callback=progress_callback, workflow_name="no_model_test", client=client, timeout=30)
    assert statuses[-1] == "failed"


async def test_generate_video_returns_the_generated_video_fields(client: ChorusVisual, conversation: str) -> None:
    orchestrator = VideoGenerationOrchestrator(client, timeout=60)
    workflow_entry = SimpleNamespace(workflow_name="no_model_video_test", workflow_file_path="workflows/no_model_video_test.json")
    video = await orchestrator.generate_video(None, conversation, "t", [], _character("nova"), "Nova", "nova", workflow_entry, prompt="waves at dusk")
    path = Path(video["file_path"])
    assert path.is_absolute() and path.is_file() and path.stat().st_size > 0
    assert video["format"] == path.suffix.lstrip(".")
    assert video["video_id"] and video["comfy_prompt_id"] and video["generation_time_seconds"] > 0
    assert video["prompt"] == "waves at dusk"


async def test_generate_audio_returns_an_audio_result_and_failures_as_values(client: ChorusVisual, conversation: str) -> None:
    orchestrator = AudioGenerationOrchestrator(client, timeout=60, default_workflow="no_model_tts_test")
    spoken = await orchestrator.generate_audio("msg-3", "Hello from the stars.", "nova", conversation_id=conversation)
    assert spoken["success"] is True, spoken
    assert spoken["file_path"] and Path(spoken["file_path"]).is_file()
    assert spoken["audio_filename"] == Path(spoken["file_path"]).name
    assert spoken["preprocessed_text"] == "Hello from the stars." and (spoken["duration"] or 0) > 0

    failed = await generate_audio("msg-4", "Hello", "nova", workflow_name="no_such_tts", client=client, conversation_id=conversation)
    assert failed["success"] is False and failed["error_code"] == "WORKFLOW_NOT_FOUND" and failed["error_message"]
    missing = await generate_audio("msg-5", "Hello", "nova", client=client, conversation_id=conversation)
    assert missing["success"] is False and missing["error_code"] == "INVALID_COMMAND"
