"""The real process: SIGHUP reloads the config atomically (an invalid one is kept out), SIGTERM
drains (readyz 503 at once, still serving during shutdown_delay_s, in-flight requests finish,
exit 0)."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import httpx
import pytest

CONFIG = """
[server]
shutdown_delay_s = {delay}
drain_timeout_s = 10
[[providers]]
name = "up"
api = "openai"
base_url = "http://127.0.0.1:{upstream}/v1"
  [[providers.models]]
  name = "{model}"
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(check: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise AssertionError("condition not reached")


@pytest.fixture
def upstream() -> Iterator[int]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "router.demo.upstream", "--port", str(port),
                             "--latency-ms", "1500"])
    wait_until(lambda: httpx.get(f"http://127.0.0.1:{port}/v1/models").status_code == 200)
    yield port
    proc.kill()
    proc.wait()


def start_router(config: Path, port: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "router", "serve", "--config", str(config), "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_sighup_reloads_and_an_invalid_config_is_kept_out(tmp_path: Path, upstream: int) -> None:
    config = tmp_path / "config.toml"
    config.write_text(CONFIG.format(delay=0, upstream=upstream, model="first"))
    port = free_port()
    router = start_router(config, port)
    url = f"http://127.0.0.1:{port}"

    def models() -> set[str]:
        return {m["id"] for m in httpx.get(f"{url}/v1/models").json()["data"]}

    try:
        wait_until(lambda: httpx.get(f"{url}/readyz").status_code == 200)
        assert models() == {"free", "up/first"}
        config.write_text(CONFIG.format(delay=0, upstream=upstream, model="second"))
        router.send_signal(signal.SIGHUP)
        wait_until(lambda: models() == {"free", "up/second"})
        config.write_text("[[routes]]\nname = 3\n")
        router.send_signal(signal.SIGHUP)
        time.sleep(0.5)  # nothing to wait for: the point is that nothing changes
        assert models() == {"free", "up/second"}
    finally:
        router.send_signal(signal.SIGTERM)
        out, _err = router.communicate(timeout=30)
    assert router.returncode == 0
    rejected = [json.loads(line) for line in out.splitlines() if "reload rejected" in line]
    assert rejected and "routes[0].name" in str(rejected[0]["errors"])


def test_a_reload_changing_state_warns_that_a_restart_applies_it(tmp_path: Path,
                                                                  upstream: int) -> None:
    config = tmp_path / "config.toml"
    base = CONFIG.format(delay=0, upstream=upstream, model="m")
    config.write_text(base)
    port = free_port()
    router = start_router(config, port)
    url = f"http://127.0.0.1:{port}"

    def served(model: str) -> bool:
        return model in httpx.get(f"{url}/v1/models").text

    try:
        wait_until(lambda: httpx.get(f"{url}/readyz").status_code == 200)
        state = '[state]\nkey_prefix = "other:"\nresponse_ttl_s = 60\n'
        # Each reload is applied (a new model shows it), and each warns: the store is still the
        # one built at startup.
        for model in ("n", "o"):
            config.write_text(base.replace('name = "m"', f'name = "{model}"') + state)
            router.send_signal(signal.SIGHUP)
            wait_until(partial(served, f"up/{model}"))
        config.write_text(base)  # back as it started: nothing to warn about
        router.send_signal(signal.SIGHUP)
        wait_until(partial(served, "up/m"))
    finally:
        router.send_signal(signal.SIGTERM)
        out, _err = router.communicate(timeout=30)
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    events = [line["event"] for line in lines
              if line["event"] == "config reloaded" or "restart" in line["event"]]
    warned = [line for line in lines if "restart" in line["event"]]
    # Two reloads changed [state], the third put it back.
    assert len(warned) == 2 and events[-1] == "config reloaded", events
    assert warned[0]["changed"] == ["state.key_prefix", "state.response_ttl_s"]
    assert warned[0]["level"] == "warning"


def test_sigterm_drains_in_flight_requests_and_exits_0(tmp_path: Path, upstream: int) -> None:
    config = tmp_path / "config.toml"
    config.write_text(CONFIG.format(delay=1, upstream=upstream, model="m"))
    port = free_port()
    router = start_router(config, port)
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: httpx.get(f"{url}/readyz").status_code == 200)
    with httpx.Client(timeout=30) as client:
        import concurrent.futures as cf

        with cf.ThreadPoolExecutor(4) as pool:
            body = {"model": "free", "messages": [{"role": "user", "content": "slow"}]}
            inflight = [pool.submit(client.post, f"{url}/v1/chat/completions", json=body)
                        for _ in range(4)]
            time.sleep(0.3)  # the requests are at the upstream (it answers after 1.5 s)
            router.send_signal(signal.SIGTERM)
            wait_until(lambda: httpx.get(f"{url}/readyz").status_code == 503, timeout=2)
            # Still served while load balancers notice.
            assert httpx.get(f"{url}/healthz").status_code == 200
            results = [f.result() for f in inflight]
    assert [r.status_code for r in results] == [200] * 4
    router.communicate(timeout=30)
    assert router.returncode == 0
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/healthz")


@pytest.mark.parametrize("command", ["serve", "demo"])
def test_a_port_in_use_is_one_line_naming_it_and_a_non_zero_exit(
        tmp_path: Path, command: str) -> None:
    config = tmp_path / "config.toml"
    config.write_text(CONFIG.format(delay=0, upstream=free_port(), model="m"))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        args = ["--config", str(config)] if command == "serve" else []
        run = subprocess.run([sys.executable, "-m", "router", command, *args, "--port", str(port)],
                             capture_output=True, text=True, timeout=60)
    assert run.returncode == 2
    assert "Traceback" not in run.stderr + run.stdout
    assert run.stderr.strip().splitlines() == [
        f"freerouter: cannot start: cannot listen on 127.0.0.1:{port}: Address already in use"]
