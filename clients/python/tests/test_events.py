"""The event stream: live, replayed from JetStream after the client reconnects (by stream
sequence and by time), repeats dropped; live-only on a server without JetStream."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import AsyncIterator

from chorus_visual import ChorusVisual, Event

from .processes import start_nats


async def _until_final(events: AsyncIterator[Event], job_id: str, timeout: float = 30) -> list[Event]:
    """Events up to and including the job's final state event (any job's events kept)."""
    seen: list[Event] = []

    async def collect() -> None:
        async for event in events:
            seen.append(event)
            if event.job_id == job_id and event.state in ("completed", "failed", "cancelled") and not event.is_progress:
                return

    await asyncio.wait_for(collect(), timeout)
    return seen


async def test_live_events_carry_the_lifecycle_and_the_thumbnail(client: ChorusVisual, conversation: str) -> None:
    async with client.events(conversation_id=conversation) as stream:  # subscribed before the job exists
        assert stream.replayable is True
        job = await client.generate(conversation_id=conversation, workflow="no_model_test", prompt="a blue square")
        events = await _until_final(stream, job.id)

    states = [e.name for e in events if not e.is_progress]
    assert states[0] == "queued" and states[-1] == "completed"
    assert states.index("processing") < states.index("moving") < states.index("completed")
    seqs = [e.seq or 0 for e in events if not e.is_progress]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert all(e.stream_sequence is not None for e in events)  # from the JetStream stream
    completed = events[-1]
    files = completed.data["result"]["files"]
    assert files[0]["thumbnail"]["mediaType"] == "image/webp"
    assert Path(files[0]["thumbnail"]["absolutePath"]).is_file()


async def test_events_missed_while_disconnected_are_replayed_after_reconnecting(nats_url: str, client: ChorusVisual, conversation: str) -> None:
    # Chorus Engine, first run: follows the conversation and remembers where it got to.
    before = await ChorusVisual.connect(nats_url)
    async with before.events(conversation_id=conversation) as stream:
        job1 = await client.generate(conversation_id=conversation, workflow="no_model_test", prompt="before the restart")
        seen = await _until_final(stream, job1.id)
    last = max(e.stream_sequence or 0 for e in seen)
    await before.close()

    # While it is down, another job runs to the end.
    gap_started = datetime.now(timezone.utc)  # after job1's last event was stored
    job2 = await (await client.generate(conversation_id=conversation, workflow="no_model_test", prompt="while away")).wait(timeout=30)
    assert job2.state == "completed"

    # Restarted: replays from the saved sequence, exactly what it missed.
    after = await ChorusVisual.connect(nats_url)
    try:
        replay = after.events(conversation_id=conversation, since=last + 1)
        missed = await _until_final(replay, job2.id)
        await replay.aclose()
        assert {e.job_id for e in missed} == {job2.id}
        assert [e.name for e in missed if not e.is_progress][0] == "queued"
        assert [e.name for e in missed if not e.is_progress][-1] == "completed"
        assert len({e.id for e in missed}) == len(missed)

        by_time = after.events(conversation_id=conversation, since=gap_started)
        timed = await _until_final(by_time, job2.id)
        await by_time.aclose()
        assert {e.job_id for e in timed if not e.is_progress} == {job2.id}
    finally:
        await after.close()


async def test_without_jetstream_events_are_live_and_repeats_are_dropped(tmp_path: Path) -> None:
    proc, url = start_nats(tmp_path, jetstream=False)
    try:
        cv = await ChorusVisual.connect(url)
        try:
            assert await cv.has_event_stream() is False
            stream = await cv.events(conversation_id="c1", since=1).start()  # since cannot be honoured: live only
            assert stream.replayable is False

            def envelope(seq: int, state: str) -> bytes:
                return json.dumps({
                    "specversion": "1.0", "id": f"j1:{seq}", "type": f"chorus.visual.job.{state}", "source": "test",
                    "subject": "j1", "time": "2026-11-29T08:00:00.000Z", "datacontenttype": "application/json",
                    "data": {"id": "j1", "conversation_id": "c1", "state": state, "seq": seq},
                }).encode()

            # An at-least-once re-send after a NATS hiccup: the same event id twice.
            for seq, state in [(1, "queued"), (1, "queued"), (2, "submitted"), (2, "submitted"), (3, "completed")]:
                await cv.nc.publish(f"chorus.visual.events.c1.j1.{state}", envelope(seq, state))
            await cv.nc.publish("chorus.visual.events.c1.j1.junk", b"not json")
            got = [await asyncio.wait_for(stream.__anext__(), 5)]
            while got[-1].name != "completed":
                got.append(await asyncio.wait_for(stream.__anext__(), 5))
            await stream.aclose()
            assert [e.id for e in got] == ["j1:1", "j1:2", "j1:3"]
            assert all(e.stream_sequence is None for e in got)
        finally:
            await cv.close()
    finally:
        proc.stop()
