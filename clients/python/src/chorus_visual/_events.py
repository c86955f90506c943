"""Events as the service publishes them: CloudEvents 1.0 JSON on ``{prefix}.events.…``."""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Mapping

from nats.aio.msg import Msg

from ._models import Progress

TYPE_PREFIX = "chorus.visual.job."


@dataclass(frozen=True)
class Event:
    """One event. ``id`` is ``{job_id}:{seq}`` for state events; use it to drop repeats."""

    id: str
    #: ``chorus.visual.job.completed``, ``….progress``, ``….overdue``…
    type: str
    #: The last word of ``type``: a top-level state, ``progress``, or an in-state event.
    name: str
    job_id: str
    conversation_id: str
    time: datetime | None
    #: The CloudEvent's ``data``: the job view (+ ``seq``, ``from_state``, ``event``) or a progress tick.
    data: Mapping[str, Any]
    #: The JetStream stream sequence when the event came from the stream: resume with ``since=seq + 1``.
    stream_sequence: int | None = None

    @property
    def is_progress(self) -> bool:
        return self.name == "progress"

    @property
    def state(self) -> str | None:
        state = self.data.get("state")
        return state if isinstance(state, str) else None

    @property
    def seq(self) -> int | None:
        seq = self.data.get("seq")
        return seq if isinstance(seq, int) else None

    def to_progress(self) -> Progress:
        """The event as ``on_progress`` reports it (a tick, or a state change)."""
        if self.is_progress:
            tick = self.data.get("progress")
            tick = tick if isinstance(tick, Mapping) else {}
            job = self.data.get("job")
            state = job.get("state") if isinstance(job, Mapping) else None
            percent = self.data.get("percent")
            return Progress(
                job_id=self.job_id,
                state=state if isinstance(state, str) else "processing",
                value=_maybe_int(tick.get("value")),
                max=_maybe_int(tick.get("max")),
                node=tick.get("node") if isinstance(tick.get("node"), str) else None,
                percent=float(percent) if isinstance(percent, (int, float)) else None,
            )
        return progress_of_job(self.data)


def progress_of_job(job: Mapping[str, Any]) -> Progress:
    """A job view (a ``get`` reply or a state event's data) as a Progress."""
    tick = job.get("progress")
    tick = tick if isinstance(tick, Mapping) else {}
    value, top = _maybe_int(tick.get("value")), _maybe_int(tick.get("max"))
    state = str(job.get("state", ""))
    percent = 100.0 if state == "completed" else (round(100 * value / top, 1) if value is not None and top else None)
    node = tick.get("node")
    return Progress(job_id=str(job.get("id", "")), state=state, value=value, max=top, node=node if isinstance(node, str) else None, percent=percent)


def _maybe_int(value: Any) -> int | None:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def parse_event(msg: Msg) -> Event | None:
    """The message as an Event; None for anything that is not one of ours (never raises)."""
    try:
        body = json.loads(msg.data)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(body, dict) or body.get("specversion") != "1.0":
        return None
    data = body.get("data")
    event_type = body.get("type")
    event_id = body.get("id")
    if not isinstance(data, dict) or not isinstance(event_type, str) or not isinstance(event_id, str):
        return None
    name = event_type[len(TYPE_PREFIX):] if event_type.startswith(TYPE_PREFIX) else event_type.rsplit(".", 1)[-1]
    time = None
    if isinstance(body.get("time"), str):
        try:
            time = datetime.fromisoformat(str(body["time"]).replace("Z", "+00:00"))
        except ValueError:
            time = None
    return Event(
        id=event_id,
        type=event_type,
        name=name,
        job_id=str(data.get("id", body.get("subject", ""))),
        conversation_id=str(data.get("conversation_id", "")),
        time=time,
        data=data,
        stream_sequence=_stream_sequence(msg),
    )


def _stream_sequence(msg: Msg) -> int | None:
    if not msg.reply or not msg.reply.startswith("$JS.ACK."):
        return None
    try:
        return int(msg.metadata.sequence.stream)
    except Exception:  # a reply subject we cannot read: no sequence, still an event
        return None


class RecentIds:
    """The last ``capacity`` event ids seen: enough to drop the repeats an at-least-once
    delivery makes (a re-sent event arrives soon after the first copy), in bounded memory."""

    def __init__(self, capacity: int = 10_000) -> None:
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._capacity = capacity

    def first_time(self, event_id: str) -> bool:
        if event_id in self._ids:
            self._ids.move_to_end(event_id)
            return False
        self._ids[event_id] = None
        if len(self._ids) > self._capacity:
            self._ids.popitem(last=False)
        return True
