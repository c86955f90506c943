"""NATS subjects, written exactly as the service writes them (src/events/event-subjects.ts)."""

from __future__ import annotations

import re

_ESCAPED = re.compile(r"[.*>%\s]")


def encode_token(value: str) -> str:
    """An id as one subject token: ``.``, ``*``, ``>``, ``%`` and whitespace percent-encoded."""
    if value == "":
        return "_"
    return _ESCAPED.sub(lambda m: f"%{ord(m.group(0)):02X}", value)


def decode_token(token: str) -> str:
    return re.sub(r"%([0-9A-F]{2})", lambda m: chr(int(m.group(1), 16)), token)


def command_subject(prefix: str, command: str) -> str:
    return f"{prefix}.cmd.{command}"


def events_subject(prefix: str, conversation_id: str | None = None, job_id: str | None = None) -> str:
    """Every event, one conversation's, or one job's (any conversation)."""
    if job_id is not None:
        conversation = encode_token(conversation_id) if conversation_id is not None else "*"
        return f"{prefix}.events.{conversation}.{encode_token(job_id)}.*"
    if conversation_id is not None:
        return f"{prefix}.events.{encode_token(conversation_id)}.>"
    return f"{prefix}.events.>"
