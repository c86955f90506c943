"""The raw-protocol nats-py example in docs/driving-from-chorus-engine.md, run as written
against the real service: a promise in the docs is held by a test. Only the server address and
the conversation id are changed (each checked to be in the text first)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from .processes import REPO_ROOT, Service

DOC = REPO_ROOT / "docs" / "driving-from-chorus-engine.md"


def _raw_protocol_example() -> str:
    text = DOC.read_text(encoding="utf-8")
    section = text.split("## Python, raw protocol (nats-py)", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "the raw-protocol section has no python block"
    return match.group(1)


async def test_the_raw_protocol_example_runs_to_a_completed_job_and_replays_it(
    service: Service, nats_url: str, conversation: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = _raw_protocol_example()
    for literal in ('nats.connect("nats://127.0.0.1:4222"', 'conversation = "conv-1"', '"request_id": "msg-9"', "asyncio.run(main())"):
        assert literal in code, f"the example no longer says {literal!r}"
    code = (
        code.replace('nats.connect("nats://127.0.0.1:4222"', f'nats.connect("{nats_url}"')
        .replace('conversation = "conv-1"', f'conversation = "{conversation}"')
        .replace('"request_id": "msg-9"', f'"request_id": "{conversation}-msg-9"')
        .replace("asyncio.run(main())", "")
    )
    namespace: dict[str, Any] = {"__name__": "docs_example"}
    exec(compile(code, str(DOC), "exec"), namespace)
    await namespace["main"]()

    out = capsys.readouterr().out
    assert "chorus.visual.job.completed" in out
    files_line = next(line for line in out.splitlines() if line.startswith("files:"))
    assert "conversations/" in files_line and files_line.endswith("error: None")
    assert out.count("replayed ") >= 5  # queued … completed, from JetStream
