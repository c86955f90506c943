"""Real processes for the tests: a private nats-server, the ComfyUI simulator and
``chorus-visual serve``, each started the way a deployment starts it, waited for on its own
"ready" log line (never a sleep), and stopped at the end."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[3]


class LoggedProcess:
    """A child process whose output lines are kept, with a wait for a line matching a pattern."""

    def __init__(self, args: list[str], *, env: dict[str, str] | None = None, cwd: Path = REPO_ROOT, name: str = "process") -> None:
        self.name = name
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self.proc = subprocess.Popen(
            args, cwd=cwd, env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def wait_for(self, pattern: str, timeout: float = 60.0) -> re.Match[str]:
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        seen = 0
        with self._changed:
            while True:
                for line in self.lines[seen:]:
                    match = regex.search(line)
                    if match:
                        return match
                seen = len(self.lines)
                if self.proc.poll() is not None and not self._reader.is_alive():
                    raise RuntimeError(f"{self.name} exited ({self.proc.returncode}) before /{pattern}/:\n" + "\n".join(self.lines[-40:]))
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"{self.name}: no line matching /{pattern}/ in {timeout} s:\n" + "\n".join(self.lines[-40:]))
                self._changed.wait(remaining)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(5)


def start_nats(store_dir: Path, *, jetstream: bool = True) -> tuple[LoggedProcess, str]:
    """nats-server on a port it picks itself (-p -1): two test runs never race for one."""
    server = shutil.which("nats-server") or "/usr/sbin/nats-server"
    args = [server, "-a", "127.0.0.1", "-p", "-1"]
    if jetstream:
        args += ["-js", "-sd", str(store_dir)]
    proc = LoggedProcess(args, name="nats-server")
    port = proc.wait_for(r"Listening for client connections on [^\s]+:(\d+)", 15).group(1)
    proc.wait_for(r"Server is ready", 15)
    return proc, f"nats://127.0.0.1:{port}"


def node_cli(*args: str) -> list[str]:
    """`chorus-visual <args>` from the repository's sources through tsx (npm scripts run the compiled dist/)."""
    return ["node", "--import", "tsx", "src/cli.ts", *args]


class Simulator:
    """`chorus-visual simulate`: the ComfyUI stand-in, driven from here through /_sim/*."""

    def __init__(self, output_dir: Path) -> None:
        self.process = LoggedProcess(node_cli("simulate", "--port", "0", "--output-dir", str(output_dir), "--step-ms", "15", "--node-ms", "2"), name="simulator")
        self.url = self.process.wait_for(r"listening on (http://\S+)", 90).group(1)
        self.output_dir = output_dir

    def fault(self, name: str, *args: Any) -> None:
        self._post("/_sim/fault", {"name": name, "args": list(args)})

    def restart(self) -> None:
        self._post("/_sim/restart", {})

    def stats(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.url}/_sim/stats", timeout=10) as reply:
            stats: dict[str, Any] = json.loads(reply.read())
            return stats

    def reset(self) -> None:
        self.fault("succeedWithoutOutputs", False)
        self.fault("failNodeClass", None)
        self.fault("executionDelayMs", 0)

    def _post(self, path: str, body: dict[str, Any]) -> None:
        request = urllib.request.Request(f"{self.url}{path}", data=json.dumps(body).encode(), method="POST", headers={"content-type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as reply:
            reply.read()

    def stop(self) -> None:
        self.process.stop()


# Valid for chorus-visual's structural checks, refused by ComfyUI: a LoRA it does not have.
MISSING_LORA_WORKFLOW = {
    "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd_xl_base_1.0.safetensors"}},
    "2": {"class_type": "LoraLoader", "inputs": {"model": ["1", 0], "clip": ["1", 1], "lora_name": "no_such_lora.safetensors", "strength_model": 1, "strength_clip": 1}},
    "3": {"class_type": "CLIPTextEncode", "inputs": {"text": "PROMPT_PLACEHOLDER", "clip": ["2", 1]}},
    "4": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
    "5": {"class_type": "KSampler", "inputs": {"model": ["2", 0], "positive": ["3", 0], "negative": ["3", 0], "latent_image": ["4", 0], "seed": 1, "steps": 2, "cfg": 1, "sampler_name": "euler", "scheduler": "normal", "denoise": 1}},
    "6": {"class_type": "VAEDecode", "inputs": {"samples": ["5", 0], "vae": ["1", 2]}},
    "7": {"class_type": "SaveImage", "inputs": {"images": ["6", 0], "filename_prefix": "bad"}},
}


class Service:
    """`chorus-visual serve` against the simulator and the private NATS server."""

    #: Short limits so timeouts and a full queue happen within a test.
    TIMEOUT_SECONDS = 3
    MAX_QUEUE_SIZE = 4

    def __init__(self, root: Path, nats_url: str, simulator: Simulator) -> None:
        self.data_dir = root / "data"
        workflows = root / "workflows"
        workflows.mkdir(parents=True)
        for source in (REPO_ROOT / "workflows").glob("*.json"):
            shutil.copy(source, workflows / source.name)
        (workflows / "missing_lora.json").write_text(json.dumps(MISSING_LORA_WORKFLOW))
        env = {
            "CHORUS_VISUAL_COMFYUI_URL": simulator.url,
            "CHORUS_VISUAL_COMFYUI_FILE_MANAGEMENT_OUTPUT_DIRECTORY": str(simulator.output_dir),
            "CHORUS_VISUAL_COMFYUI_POLLING_INITIAL_INTERVAL_SECONDS": "0.2",
            "CHORUS_VISUAL_COMFYUI_TIMEOUT_SECONDS": str(self.TIMEOUT_SECONDS),
            "CHORUS_VISUAL_COMFYUI_QUEUE_MAX_QUEUE_SIZE": str(self.MAX_QUEUE_SIZE),
            "CHORUS_VISUAL_COMFYUI_MAX_RESUBMITS": "0",
            "CHORUS_VISUAL_DATA_DIR": str(self.data_dir),
            "CHORUS_VISUAL_DATABASE_URL": f"sqlite:{root / 'jobs.db'}",
            "CHORUS_VISUAL_WORKFLOWS_DIR": str(workflows),
            "CHORUS_VISUAL_NATS_SERVERS": json.dumps([nats_url]),
            "CHORUS_VISUAL_HTTP_PORT": "0",
            "CHORUS_VISUAL_INSTANCE_ID": "pytest",
        }
        self.process = LoggedProcess(node_cli("serve"), env=env, name="chorus-visual serve")
        self.process.wait_for(r'"msg":"NATS commands and events ready"', 120)

    def stop(self) -> None:
        self.process.stop()
