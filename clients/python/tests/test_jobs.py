"""Generate, wait, progress, idempotency, cancel and the read commands, as Chorus Engine
would use them: only through the package, against the real service."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from chorus_visual import ChorusVisual, JobCancelled, Progress, WaitTimeout

from .processes import Service, Simulator


async def test_generate_and_wait_reports_progress_and_delivers_files_with_thumbnails(client: ChorusVisual, service: Service, conversation: str) -> None:
    updates: list[Progress] = []

    async def on_progress(update: Progress) -> None:  # async, as Chorus Engine's callbacks are
        updates.append(update)

    job = await client.generate(conversation_id=conversation, character="nova", prompt="nova at the telescope, night sky", message_id="m-1")
    assert job.created is True
    assert job.state == "queued"
    assert job.character == "nova"

    done = await job.wait(timeout=60, on_progress=on_progress)

    assert done.state == "completed", done.error
    assert done.error is None
    assert done.raise_for_error() is done
    states = [u.state for u in updates]
    assert states[-1] == "completed" and updates[-1].percent == 100.0
    assert "processing" in states
    ticks = [u for u in updates if u.max]
    assert len(ticks) >= 2, updates  # KSampler steps arrive as progress ticks
    assert all(0 <= (u.percent or 0) <= 100 for u in ticks)

    assert done.result is not None
    image = done.result.first("image")
    assert image is not None
    assert Path(image.absolute_path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert image.absolute_path.startswith(str(service.data_dir))
    assert image.thumbnail is not None
    thumb = Path(image.thumbnail.absolute_path).read_bytes()
    assert thumb[:4] == b"RIFF" and thumb[8:12] == b"WEBP"
    assert image.thumbnail.media_type == "image/webp"
    assert max(image.thumbnail.width, image.thumbnail.height) <= 256
    assert image.thumbnail.bytes == len(thumb)
    # The sidecar lists the thumbnail too.
    sidecar = json.loads((service.data_dir / done.result.metadata_path).read_text())
    assert sidecar["files"][0]["thumbnail"]["path"] == image.thumbnail.path
    assert done.seed is not None and done.timings.total_ms is not None


async def test_a_replayed_request_id_makes_no_second_job_and_waiting_on_it_returns_at_once(client: ChorusVisual, conversation: str) -> None:
    first = await client.generate(conversation_id=conversation, workflow="no_model_test", prompt="a lighthouse", request_id=f"{conversation}-req")
    finished = await first.wait(timeout=30)
    assert finished.state == "completed"

    again = await client.generate(conversation_id=conversation, workflow="no_model_test", prompt="a lighthouse", request_id=f"{conversation}-req")

    assert again.created is False
    assert again.id == first.id
    assert again.state == "completed"
    # The raw-protocol example hung here: no event will ever come for a finished job.
    replayed = await asyncio.wait_for(again.wait(timeout=30), 5)
    assert replayed.state == "completed"
    page = await client.list(conversation_id=conversation)
    assert page.total == 1


async def test_cancel_a_running_job(client: ChorusVisual, simulator: Simulator, conversation: str) -> None:
    simulator.fault("executionDelayMs", 2_000)
    job = await client.generate(conversation_id=conversation, workflow="no_model_test", prompt=f"slow in {conversation}")
    processing = asyncio.Event()

    def on_progress(update: Progress) -> None:  # sync callbacks work too
        if update.state == "processing":
            processing.set()

    waiter = asyncio.create_task(job.wait(timeout=30, on_progress=on_progress))
    await asyncio.wait_for(processing.wait(), 15)
    cancelled = await job.cancel()
    assert cancelled.id == job.id

    final = await waiter
    assert final.state == "cancelled"
    with pytest.raises(JobCancelled):
        final.raise_for_error()
    assert (await client.get(job.id)).state == "cancelled"


async def test_get_list_workflows_and_validate(client: ChorusVisual, conversation: str) -> None:
    job = await (await client.generate(conversation_id=conversation, workflow="no_model_test", prompt="a red square", thread_id="t-7")).wait(timeout=30)

    fetched = await client.get(job.id)
    assert (fetched.id, fetched.state, fetched.thread_id, fetched.workflow) == (job.id, "completed", "t-7", "no_model_test")
    details = await client.get_details(job.id)
    assert [e["to_state"].split(".")[0] for e in details["events"]][-1] == "completed"
    assert "debug" in details

    page = await client.list(conversation_id=conversation, state="completed")
    assert [j.id for j in page.jobs] == [job.id] and page.total == 1
    assert (await client.list(conversation_id=conversation, state=["failed", "cancelled"])).total == 0
    # No states is no filter, as `?state=` over HTTP (the service refuses `"state": []`).
    assert [j.id for j in (await client.list(conversation_id=conversation, state=[])).jobs] == [job.id]

    catalogue = await client.workflows()
    kinds = {w.name: w.type for w in catalogue.workflows}
    assert kinds["no_model_test"] == "image" and kinds["no_model_video_test"] == "video" and kinds["no_model_tts_test"] == "audio"

    assert (await client.validate("no_model_test")).ok is True
    report = await client.validate("missing_lora")
    assert report.ok is False and report.errors


async def test_regenerate_makes_a_new_job_with_the_same_prompt_and_a_new_seed(client: ChorusVisual, conversation: str) -> None:
    original = await (await client.generate(conversation_id=conversation, character="nova", prompt="nova reading by the window", seed=1234)).wait(timeout=60)
    assert original.state == "completed" and original.seed == 1234

    again = await client.regenerate(original.id)
    assert again.created is True and again.id != original.id
    assert again.regenerated_from == original.id
    done = await again.wait(timeout=60)
    assert done.state == "completed"
    assert done.prompt == original.prompt and done.workflow == original.workflow
    assert done.seed is not None and done.seed != 1234

    seeded = await (await client.regenerate(original.id, seed=99)).wait(timeout=60)
    assert seeded.seed == 99
    assert set((await client.get(original.id)).regenerations) == {again.id, seeded.id}


async def test_wait_timeout_is_its_own_exception_and_the_job_goes_on(client: ChorusVisual, simulator: Simulator, conversation: str) -> None:
    simulator.fault("executionDelayMs", 1_500)
    job = await client.generate(conversation_id=conversation, workflow="no_model_test", prompt=f"patience in {conversation}")
    with pytest.raises(WaitTimeout) as caught:
        await job.wait(timeout=0.3)
    assert isinstance(caught.value, TimeoutError) and caught.value.details["job_id"] == job.id
    assert (await job.wait(timeout=30)).state == "completed"


async def test_wait_finishes_through_get_when_no_event_reaches_it(client: ChorusVisual, simulator: Simulator, conversation: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Events lost (a NATS hiccup, a subscription on the wrong account): wait's subscription hears nothing.
    monkeypatch.setattr("chorus_visual._client.events_subject", lambda *args, **kwargs: "nobody.publishes.here")
    client.poll_interval = 0.2
    simulator.fault("executionDelayMs", 500)
    job = await client.generate(conversation_id=conversation, workflow="no_model_test", prompt=f"unheard in {conversation}")
    seen: list[str] = []
    final = await job.wait(timeout=30, on_progress=lambda update: seen.append(update.state))
    assert final.state == "completed"
    assert seen[-1] == "completed"
