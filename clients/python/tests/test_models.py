"""Parsing of what the service sends, without a service: unknown fields and codes survive."""

from __future__ import annotations

import re

from chorus_visual import ERROR_CLASSES, ChorusVisualError, ComfyUnavailable, Job, QueueFull, Unauthorized, decode_token, encode_token, error_from_dict
from chorus_visual._subjects import events_subject

from .processes import REPO_ROOT


def test_every_code_the_service_defines_has_its_class() -> None:
    source = (REPO_ROOT / "src" / "contracts" / "error-codes.ts").read_text()
    block = source[source.index("export const ErrorCode = {"):source.index("} as const")]
    service_codes = set(re.findall(r"^\s+([A-Z_]+): '\1',$", block, re.MULTILINE))
    assert "QUEUE_FULL" in service_codes  # the parse found the list
    assert service_codes == set(ERROR_CLASSES)


def test_error_from_dict_picks_the_class_and_keeps_unknown_codes() -> None:
    error = error_from_dict({"code": "QUEUE_FULL", "message": "full", "recoverable": True, "details": {"max_queue_size": 2}, "suggestion": "wait"})
    assert isinstance(error, QueueFull) and isinstance(error, ChorusVisualError)
    assert (error.code, error.message, error.recoverable, error.details, error.suggestion) == ("QUEUE_FULL", "full", True, {"max_queue_size": 2}, "wait")
    assert error.to_dict()["code"] == "QUEUE_FULL"
    refused = error_from_dict({"code": "UNAUTHORIZED", "message": "the bearer token is wrong", "recoverable": False})
    assert isinstance(refused, Unauthorized) and refused.code == "UNAUTHORIZED"
    newer = error_from_dict({"code": "SOMETHING_NEW", "message": "from a newer service", "recoverable": False})
    assert type(newer) is ChorusVisualError and newer.code == "SOMETHING_NEW"


def test_job_from_dict_keeps_fields_it_does_not_model() -> None:
    job = Job.from_dict({
        "id": "j1", "state": "failed", "conversation_id": "c", "workflow": "w", "priority": 0, "attempts": 1,
        "error": {"code": "NO_OUTPUT", "message": "nothing", "recoverable": True},
        "created_at": "2026-11-29T08:00:00.000Z", "timings": {"total_ms": 1500}, "future_field": [1, 2],
        "regenerated_from": "j0", "regenerations": ["j2"],
    })
    assert job.error is not None and job.error.code == "NO_OUTPUT"
    assert job.extra == {"future_field": [1, 2]}
    assert job.created_at is not None and job.created_at.year == 2026
    assert job.timings.total_ms == 1500 and job.timings.generation_ms is None
    assert (job.regenerated_from, job.regenerations) == ("j0", ["j2"])


def test_a_waiting_job_note_is_its_error_class_and_not_its_error() -> None:
    backends = [{"backend": "local", "url": "http://127.0.0.1:1", "cause": "/system_stats: connection refused"}]
    job = Job.from_dict({
        "id": "j1", "state": "queued", "substate": "queued.waiting", "conversation_id": "c", "workflow": "w", "priority": 0,
        "attempts": 0, "error": None, "timings": {},
        "note": {"code": "COMFY_UNAVAILABLE", "message": "no ComfyUI backend reachable", "recoverable": True, "details": {"backends": backends}},
    })
    assert isinstance(job.note, ComfyUnavailable) and job.note.details == {"backends": backends}
    assert job.error is None and "note" not in job.extra
    assert job.raise_for_error() is job
    assert Job.from_dict({"id": "j2", "state": "queued", "conversation_id": "c", "workflow": "w"}).note is None


def test_subject_tokens_match_the_service() -> None:
    assert encode_token("conv.1 *>%") == "conv%2E1%20%2A%3E%25"
    assert decode_token(encode_token("a.b")) == "a.b"
    assert encode_token("") == "_"
    assert events_subject("chorus.visual", "c.1") == "chorus.visual.events.c%2E1.>"
    assert events_subject("chorus.visual", job_id="j1") == "chorus.visual.events.*.j1.*"


def test_timings_carry_lost_and_service_down_time() -> None:
    job = Job.from_dict({
        "id": "j1", "state": "completed", "conversation_id": "c", "workflow": "w", "priority": 0, "attempts": 2,
        "timings": {"queue_wait_ms": 10, "lost_ms": 900, "comfy_queue_wait_ms": 5, "generation_ms": 1500,
                    "service_down_ms": 0, "file_move_ms": 3, "total_ms": 2418},
    })
    t = job.timings
    assert (t.lost_ms, t.service_down_ms) == (900, 0)
    parts = [t.queue_wait_ms, t.lost_ms, t.comfy_queue_wait_ms, t.generation_ms, t.service_down_ms, t.file_move_ms]
    assert sum(p or 0 for p in parts) == t.total_ms
    assert Job.from_dict({**{"id": "j", "state": "queued", "conversation_id": "c", "workflow": "w"}, "timings": {}}).timings.lost_ms is None
