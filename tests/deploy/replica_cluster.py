"""A miniature of the production topology on loopback: one fake OpenAI upstream, several
`python -m router serve` replicas, and a real nginx in front configured like ingress-nginx for
SSE (deploy/nginx/freerouter.conf.template). Every process is ours and is stopped by its own
handle when the cluster closes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import sys
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[2]
NGINX_TEMPLATE = ROOT / "deploy" / "nginx" / "freerouter.conf.template"
MODELS = ("m1", "m2", "m3", "m4", "m5")
PROVIDER = "up"
STARTUP_TIMEOUT_S = 30.0
POLL_INTERVAL_S = 0.05
STOP_TIMEOUT_S = 30.0


@dataclass(frozen=True, slots=True)
class Timing:
    """What the fake upstream and the replicas are told about time."""

    latency_ms: int = 0  # before the upstream's answer headers
    chunk_delay_ms: int = 0  # between the upstream's stream chunks
    shutdown_delay_s: float = 1.0
    drain_timeout_s: float = 20.0


@dataclass(frozen=True, slots=True)
class Service:
    name: str
    port: int
    process: asyncio.subprocess.Process
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def address(self) -> str:
        """How nginx names this server in $upstream_addr."""
        return f"127.0.0.1:{self.port}"

    def running(self) -> bool:
        return self.process.returncode is None

    def log_tail(self, lines: int = 30) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return f"--- {self.name} ({self.log}) ---\n" + "\n".join(text.splitlines()[-lines:])


@dataclass(frozen=True, slots=True)
class Cluster:
    upstream: Service
    replicas: tuple[Service, ...]
    nginx: Service
    timing: Timing

    @property
    def url(self) -> str:
        return self.nginx.url

    def logs(self) -> str:
        return "\n".join(s.log_tail() for s in (self.nginx, *self.replicas, self.upstream))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def router_config(upstream_port: int, timing: Timing) -> str:
    models = "\n".join(f'  [[providers.models]]\n  name = "{m}"\n' for m in MODELS)
    return (
        "[server]\n"
        f"shutdown_delay_s = {timing.shutdown_delay_s}\n"
        f"drain_timeout_s = {timing.drain_timeout_s}\n\n"
        "[[providers]]\n"
        f'name = "{PROVIDER}"\n'
        'api = "openai"\n'
        f'base_url = "http://127.0.0.1:{upstream_port}/v1"\n\n'
        f"{models}\n"
        "[[routes]]\n"
        'name = "free"\n'
        'strategy = "sticky"\n'
        'backends = ["*"]\n'
    )


def nginx_config(prefix: Path, port: int, replicas: Sequence[Service]) -> str:
    servers = "\n".join(f"        server {r.address};" for r in replicas)
    # Running as root (CI), nginx would hand its workers to "nobody", who cannot write the
    # pytest temp directory holding the logs.
    user = "user root;" if os.geteuid() == 0 else ""
    text = NGINX_TEMPLATE.read_text()
    for token, value in (("@@USER_DIRECTIVE@@", user), ("@@PREFIX@@", str(prefix)),
                         ("@@LISTEN_PORT@@", str(port)), ("@@UPSTREAM_SERVERS@@", servers)):
        text = text.replace(token, value)
    assert not re.search(r"@@[A-Z_]+@@", text), "unfilled token in the nginx template"
    return text


async def _spawn(name: str, argv: Sequence[str], log: Path, cwd: Path) -> asyncio.subprocess.Process:
    with log.open("wb") as out:
        return await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=asyncio.subprocess.STDOUT,
            cwd=cwd, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )


async def wait_until_answering(service: Service, path: str, session: aiohttp.ClientSession) -> None:
    """Poll until the service answers 200 on path: a separate process offers no event to await."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STARTUP_TIMEOUT_S
    while loop.time() < deadline:
        if not service.running():
            raise RuntimeError(f"{service.name} exited {service.process.returncode}\n"
                               + service.log_tail())
        with contextlib.suppress(aiohttp.ClientError, TimeoutError):
            async with session.get(service.url + path) as answer:
                if answer.status == 200:
                    return
        await asyncio.sleep(POLL_INTERVAL_S)
    raise TimeoutError(f"{service.name} did not answer {path}\n" + service.log_tail())


async def stop(service: Service) -> None:
    """SIGTERM, then SIGKILL if the process outlives the drain; only our own child, by handle."""
    if not service.running():
        return
    with contextlib.suppress(ProcessLookupError):
        service.process.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(service.process.wait(), STOP_TIMEOUT_S)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            service.process.kill()
        await service.process.wait()


@contextlib.asynccontextmanager
async def run_cluster(
    workdir: Path, nginx: Path, timing: Timing, replicas: int = 3
) -> AsyncIterator[Cluster]:
    started: list[Service] = []
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
            port = free_port()
            upstream = Service("upstream", port, await _spawn("upstream", [
                sys.executable, "-m", "router.demo.upstream", "--port", str(port),
                "--latency-ms", str(timing.latency_ms),
                "--chunk-delay-ms", str(timing.chunk_delay_ms),
            ], workdir / "upstream.log", workdir), workdir / "upstream.log")
            started.append(upstream)
            await wait_until_answering(upstream, "/v1/models", session)

            config = workdir / "router.toml"
            config.write_text(router_config(upstream.port, timing))
            for n in range(replicas):
                port, log = free_port(), workdir / f"replica{n}.log"
                process = await _spawn(f"replica{n}", [
                    sys.executable, "-m", "router", "serve", "--config", str(config),
                    "--port", str(port),
                ], log, workdir)
                started.append(Service(f"replica{n}", port, process, log))
            for replica in started[1:]:
                await wait_until_answering(replica, "/readyz", session)

            prefix = workdir / "nginx"
            for temp in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
                (prefix / temp).mkdir(parents=True, exist_ok=True)
            port = free_port()
            (prefix / "nginx.conf").write_text(nginx_config(prefix, port, started[1:]))
            process = await _spawn("nginx", [
                str(nginx), "-p", str(prefix), "-c", str(prefix / "nginx.conf"),
                "-g", "daemon off;",
            ], prefix / "stderr.log", workdir)
            proxy = Service("nginx", port, process, prefix / "error.log")
            started.append(proxy)
            await wait_until_answering(proxy, "/readyz", session)
        yield Cluster(upstream, tuple(started[1:-1]), proxy, timing)
    finally:
        await asyncio.gather(*(stop(s) for s in reversed(started)))
