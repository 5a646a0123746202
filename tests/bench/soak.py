"""Soak of the local stack: N events over HTTP (`/v1/batch`) in steps, memory and rate per step.

    .venv/bin/python -m tests.bench.soak [events] [step]     (default 5,000 in steps of 1,000)

The stack runs as `make serve` does (`python -m infra.local.serve`, its own process on free
ports). Each step posts `step` events in batches of 100 and then drains the stack (`POST
/_local/drain`: the processor, the archive writer, workflows); its rate is events / (post +
drain) seconds. The server's resident memory (VmRSS from /proc) is read after every step.
Flat means: the last step's rate is within a factor of the first's and RSS stops growing
with the events already applied. A server past MAX_RSS_MB is stopped (the machine is shared)
and the run reports how far it got.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "tests" / "bench" / "results"
WRITE_KEY = "soak-write-key"
BATCH = 100
EVENTS_PER_PERSON = 4
MAX_RSS_MB = float(os.environ.get("CDP_SOAK_MAX_RSS_MB", "3000"))
STEP_TIMEOUT_SECONDS = float(os.environ.get("CDP_SOAK_STEP_TIMEOUT", "900"))
SAMPLE_SECONDS = 10


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def rss_mb(pid: int) -> float:
    """Resident memory of the process, MiB (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return 0.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used (what a step costs, whatever the machine's load)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def events(start: int, count: int, run: str) -> list[dict[str, Any]]:
    """A shop's traffic: each person is identified once (member id, email), then views and buys."""
    batch: list[dict[str, Any]] = []
    for index in range(start, start + count):
        person, nth = divmod(index, EVENTS_PER_PERSON)
        user = f"soak-{run}-{person:06d}"
        if nth == 0:
            call: dict[str, Any] = {
                "type": "identify",
                "userId": user,
                "traits": {"email": f"{user}@example.com", "name": f"Soak {person}", "plan": "member"},
            }
        elif nth == EVENTS_PER_PERSON - 1:
            call = {
                "type": "track",
                "userId": user,
                "event": "Order Completed",
                "properties": {"revenue": 1200 + person % 500, "currency": "TWD", "order_id": f"o-{index}"},
            }
        else:
            call = {"type": "track", "userId": user, "event": "Product Viewed", "properties": {"sku": f"SKU-{index}"}}
        call["messageId"] = f"soak-{run}-{index}"
        call["timestamp"] = datetime.now(tz=UTC).isoformat().replace("+00:00", "Z")
        batch.append(call)
    return batch


class Server:
    """`python -m infra.local.serve` on free ports, its log in a temporary file."""

    def __init__(self, log: Path) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "CDP_PORT": str(self.port),
            "CDP_LOCAL_LOG_LEVEL": "WARNING",
            "CDP_WRITE_KEY": WRITE_KEY,
            "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
            "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
            "PYTHONUNBUFFERED": "1",
        }
        env.pop("CDP_LOCAL_STATE_DIR", None)
        self._log = log.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "infra.local.serve"], cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT
        )

    def wait_healthy(self, timeout: float = 180.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the local stack exited with {self.process.returncode}")
            try:
                if requests.get(f"{self.base_url}/health", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.3)
        raise TimeoutError("the local stack did not become healthy")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self._log.close()


class Watch:
    """Samples the server's RSS every second (and its progress every SAMPLE_SECONDS); stops the
    server past MAX_RSS_MB."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.peak = 0.0
        self.over = False
        self.samples: list[dict[str, Any]] = []
        self._began = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        ticks = 0
        while not self._stop.wait(1.0):
            current = rss_mb(self.server.process.pid)
            self.peak = max(self.peak, current)
            if current > MAX_RSS_MB:
                self.over = True
                self.samples.append({"t_s": round(time.monotonic() - self._began), "rss_mb": current})
                self.server.process.kill()
                return
            ticks += 1
            if ticks % SAMPLE_SECONDS == 0:
                self.samples.append({"t_s": round(time.monotonic() - self._began), "rss_mb": current, **self._status()})

    def _status(self) -> dict[str, Any]:
        """Stream records handled so far (all mappings, and the processor's when the stack tells)."""
        try:
            status = requests.get(f"{self.server.base_url}/_local/status", timeout=10).json()
        except (requests.RequestException, ValueError):
            return {}
        found = {"records_processed": status.get("processed")}
        for mapping in status.get("streams", []):
            found[f"{mapping['function']}_records"] = mapping["processed"]
        return found

    def stop(self) -> None:
        self._stop.set()


def post_step(session: requests.Session, base_url: str, start: int, count: int, run: str) -> None:
    auth = "Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()).decode()
    for offset in range(0, count, BATCH):
        body = json.dumps({"batch": events(start + offset, min(BATCH, count - offset), run)})
        for attempt in range(5):
            try:
                response = session.post(
                    f"{base_url}/v1/batch",
                    data=body,
                    headers={"Authorization": auth, "Content-Type": "application/json"},
                    timeout=120,
                )
            except requests.RequestException:
                if attempt == 4:
                    raise
                time.sleep(1)
                continue
            if response.status_code == 200:
                break
            if response.status_code < 500 or attempt == 4:
                raise RuntimeError(f"/v1/batch answered {response.status_code}: {response.text[:300]}")
            time.sleep(1)


def drain(session: requests.Session, base_url: str, deadline: float) -> bool:
    while time.monotonic() < deadline:
        timeout = max(1.0, min(120.0, deadline - time.monotonic()))
        try:
            response = session.post(f"{base_url}/_local/drain", params={"timeout": str(timeout)}, timeout=timeout + 30)
        except requests.RequestException:
            return False
        if response.status_code == 200:
            return True
    return False


def run(total: int = 5000, step: int = 1000) -> dict[str, Any]:
    import tempfile

    run_id = uuid.uuid4().hex[:8]
    with tempfile.TemporaryDirectory(prefix="cdp-soak-") as folder:
        server = Server(Path(folder) / "serve.log")
        steps: list[dict[str, Any]] = []
        outcome = "completed"
        try:
            server.wait_healthy()
            session = requests.Session()
            drain(session, server.base_url, time.monotonic() + 120)
            baseline = rss_mb(server.process.pid)
            watch = Watch(server)
            try:
                for start in range(0, total, step):
                    began, cpu_before = time.monotonic(), cpu_seconds(server.process.pid)
                    post_step(session, server.base_url, start, step, run_id)
                    posted = time.monotonic()
                    drained = drain(session, server.base_url, began + STEP_TIMEOUT_SECONDS)
                    elapsed = time.monotonic() - began
                    steps.append(
                        {
                            "events_sent": start + step,
                            "post_s": round(posted - began, 1),
                            "step_s": round(elapsed, 1),
                            "events_per_s": round(step / elapsed, 1),
                            "server_cpu_s": round(cpu_seconds(server.process.pid) - cpu_before, 1),
                            "rss_mb": rss_mb(server.process.pid),
                            "drained": drained,
                        }
                    )
                    print(json.dumps(steps[-1]), flush=True)
                    if not drained:
                        outcome = "server over memory cap" if watch.over else "step did not drain in time"
                        break
            except (requests.RequestException, RuntimeError) as error:
                outcome = "server over memory cap" if watch.over else f"failed: {error}"
            finally:
                watch.stop()
            log_tail = (Path(folder) / "serve.log").read_text(errors="replace")[-2000:]
        finally:
            server.stop()
    result: dict[str, Any] = {
        "events": total,
        "step": step,
        "outcome": outcome,
        "rss_baseline_mb": baseline,
        "rss_peak_mb": watch.peak,
        "steps": steps,
        "samples": watch.samples,
    }
    if len(steps) >= 2 and steps[0]["drained"] and steps[-1]["drained"]:
        result["last_to_first_rate"] = round(steps[-1]["events_per_s"] / steps[0]["events_per_s"], 2)
        result["rss_growth_after_first_step_mb"] = round(steps[-1]["rss_mb"] - steps[0]["rss_mb"], 1)
        result["last_to_first_cpu"] = round(steps[-1]["server_cpu_s"] / max(steps[0]["server_cpu_s"], 0.1), 2)
    if outcome != "completed":
        result["server_log_tail"] = log_tail
    return result


def summary(result: dict[str, Any]) -> list[str]:
    lines = [f"local stack soak ({result['events']} events, steps of {result['step']}): {result['outcome']}"]
    for entry in result["steps"]:
        lines.append(
            f"  {entry['events_sent']:>6} events: {entry['events_per_s']:>7} events/s, "
            f"server CPU {entry.get('server_cpu_s')} s, RSS {entry['rss_mb']} MiB"
        )
    if "last_to_first_rate" in result:
        lines.append(
            f"  last/first step rate {result['last_to_first_rate']}, "
            f"RSS growth after the first step {result['rss_growth_after_first_step_mb']} MiB"
        )
    return lines


def main() -> None:
    total = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    step = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    started = datetime.now(tz=UTC)
    result = {"started_at": started.isoformat(), "cpus": os.cpu_count(), "local_stack_soak": run(total, step)}
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"soak-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(result, indent=2))
    print("\n".join(summary(result["local_stack_soak"])))
    print(f"written to {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
