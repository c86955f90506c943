"""Every error the service (with the simulator's faults) can cause reaches the caller as the
exception class of its code, with message, recoverable, details and suggestion."""

from __future__ import annotations

import asyncio
from typing import Type

import pytest

from chorus_visual import (
    CharacterNotFound,
    ChorusVisual,
    ChorusVisualError,
    ComfyLost,
    ExecutionError,
    GenerationTimeout,
    InvalidCommand,
    Job,
    JobNotFound,
    NoOutput,
    Progress,
    QueueFull,
    RequestTimeout,
    ServiceUnavailable,
    WorkflowNodeError,
    WorkflowNotFound,
)

from .processes import Service, Simulator


async def test_invalid_command_names_the_bad_fields(client: ChorusVisual, conversation: str) -> None:
    with pytest.raises(InvalidCommand) as caught:
        await client.generate(conversation_id=conversation, prompt="no workflow or character")
    error = caught.value
    assert error.code == "INVALID_COMMAND" and error.recoverable is False
    assert any(d["path"] == "character" for d in error.details)
    assert error.suggestion
    with pytest.raises(InvalidCommand):
        await client.generate(conversation_id="../escape", workflow="no_model_test", prompt="x")


async def test_unknown_workflow_character_and_job(client: ChorusVisual, conversation: str) -> None:
    with pytest.raises(WorkflowNotFound) as caught:
        await client.generate(conversation_id=conversation, workflow="no_such_workflow", prompt="x")
    assert "no_model_test" in caught.value.details["available"]
    with pytest.raises(CharacterNotFound):
        await client.generate(conversation_id=conversation, character="nobody", prompt="x")
    with pytest.raises(JobNotFound):
        await client.get("no-such-job")
    with pytest.raises(JobNotFound):
        await client.cancel("no-such-job")
    assert (await client.list(conversation_id=conversation)).total == 0  # nothing was stored


async def test_queue_full_is_recoverable(client: ChorusVisual, simulator: Simulator, conversation: str) -> None:
    simulator.fault("executionDelayMs", 2_500)
    jobs = [await client.generate(conversation_id=conversation, workflow="no_model_test", prompt=f"p{i}") for i in range(Service.MAX_QUEUE_SIZE)]
    with pytest.raises(QueueFull) as caught:
        await client.generate(conversation_id=conversation, workflow="no_model_test", prompt="one too many")
    assert caught.value.recoverable is True
    assert caught.value.details["max_queue_size"] == Service.MAX_QUEUE_SIZE
    assert len({j.id for j in jobs}) == Service.MAX_QUEUE_SIZE


async def _failed(job: Job) -> ChorusVisualError:
    final = await job.wait(timeout=30)
    assert final.state == "failed", final
    assert final.error is not None
    with pytest.raises(type(final.error)):
        final.raise_for_error()
    return final.error


@pytest.mark.parametrize(
    ("fault", "args", "expected"),
    [
        ("failNodeClass", ["SaveImage"], ExecutionError),
        ("succeedWithoutOutputs", [True], NoOutput),
        ("executionDelayMs", [(Service.TIMEOUT_SECONDS + 3) * 1000], GenerationTimeout),
    ],
)
async def test_job_failures_from_simulator_faults(
    client: ChorusVisual, simulator: Simulator, conversation: str, fault: str, args: list[object], expected: Type[ChorusVisualError]
) -> None:
    simulator.fault(fault, *args)
    # A prompt of its own: the simulator caches nodes whose inputs it has seen (like ComfyUI),
    # and a cached node neither runs, fails nor waits.
    job = await client.generate(conversation_id=conversation, workflow="no_model_test", prompt=f"fails in {conversation}")
    error = await _failed(job)
    assert isinstance(error, expected)
    assert error.code == expected.default_code
    assert error.message and error.suggestion


async def test_execution_error_carries_the_node(client: ChorusVisual, simulator: Simulator, conversation: str) -> None:
    simulator.fault("failNodeClass", "SaveImage")  # never cached: its file name holds the job's seed
    error = await _failed(await client.generate(conversation_id=conversation, workflow="no_model_test", prompt="boom"))
    assert isinstance(error, ExecutionError) and error.recoverable is True
    assert "SaveImage" in str(error.details)


async def test_workflow_node_error_when_comfyui_refuses_the_graph(client: ChorusVisual, conversation: str) -> None:
    error = await _failed(await client.generate(conversation_id=conversation, workflow="missing_lora", prompt="x"))
    assert isinstance(error, WorkflowNodeError) and error.recoverable is False
    assert "no_such_lora" in str(error.details)


async def test_comfy_lost_when_comfyui_restarts_and_forgets_the_prompt(client: ChorusVisual, simulator: Simulator, conversation: str) -> None:
    simulator.fault("executionDelayMs", 2_000)
    job = await client.generate(conversation_id=conversation, workflow="no_model_test", prompt=f"forgotten in {conversation}")
    processing = asyncio.Event()

    def on_progress(update: Progress) -> None:
        if update.state == "processing":
            processing.set()

    waiter = asyncio.create_task(job.wait(timeout=60, on_progress=on_progress))
    await asyncio.wait_for(processing.wait(), 15)
    simulator.restart()  # queue and history lost; the service may not resubmit (max_resubmits 0)
    final = await waiter
    assert final.state == "failed"
    assert isinstance(final.error, ComfyLost) and final.error.recoverable is True


async def test_no_service_and_no_reply_are_their_own_exceptions(client: ChorusVisual, nats_url: str) -> None:
    nobody = await ChorusVisual.connect(nats_url, prefix="nobody.listens")
    try:
        with pytest.raises(ServiceUnavailable):
            await nobody.get("x")
    finally:
        await nobody.close()

    # A responder that never answers: the request times out, as a builtin TimeoutError too.
    silent = await client.nc.subscribe("silent.cmd.get")
    slow = await ChorusVisual.connect(nats_url, prefix="silent", request_timeout=0.3)
    try:
        with pytest.raises(RequestTimeout) as caught:
            await slow.get("x")
        assert isinstance(caught.value, TimeoutError) and caught.value.recoverable is True
    finally:
        await slow.close()
        await silent.unsubscribe()
