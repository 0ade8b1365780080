"""The reference product's published CLI (PyPI `mintoken` 0.2.2) against our server.

That CLI runs its own local proxy and compresses through its vendor's server; its
`MINTOKEN_COMPRESS_URL` and `MINTOKEN_TELEMETRY_URL` point it elsewhere. Here they point
at our `mintoken serve`, with an `mt_live_` key from it: a long agent session sent
through the reference proxy must reach `mintoken-mock` compressed by our server (valid
tool pairs), and its telemetry must show up in our analytics.

The CLI is installed from PyPI into a virtualenv of its own (it would otherwise put a
`mintoken` command into the SDK suite's environment).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import anthropic
import pytest

from mintoken_harness import PROVIDER_KEYS, http_client

REFERENCE_CLI = "mintoken==0.2.2"
MARKER_PREFIX = "[mintoken: "


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def reference_cli(tmp_path_factory: pytest.TempPathFactory) -> Path:
    venv = tmp_path_factory.mktemp("reference-cli") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", REFERENCE_CLI],
        check=True,
    )
    return venv / "bin" / "mintoken"


def _long_session() -> dict:
    """An Anthropic agent session whose old tool results are far over the aggressive
    level's truncation size (1,000 tokens), under the free plan's 100 KB body cap."""
    messages: list[dict] = [{"role": "user", "content": "The build is failing; find out why and fix it."}]
    for i in range(8):
        log = "".join(f"   Compiling crate{i}-{n} v0.{n}.0 (/work/src/crate{n})\n" for n in range(120))
        log += f"error[E0{i}42]: mismatched types in step {i}\n"
        log += "".join(f"    Finished step {n} of build {i}\n" for n in range(60))
        messages.append(
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": f"toolu_{i:02d}", "name": "bash", "input": {"cmd": f"cargo build -p crate{i}"}}],
            }
        )
        messages.append(
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": f"toolu_{i:02d}", "content": log}]}
        )
    messages.append({"role": "assistant", "content": "The errors are type mismatches; I will fix them."})
    messages.append({"role": "user", "content": "Go ahead."})
    return {"model": "claude-sonnet-4-5", "max_tokens": 256, "system": "You are a coding agent.", "messages": messages}


def test_the_published_cli_compresses_through_our_server_and_reports_to_our_analytics(
    reference_cli: Path, server, mock, account, tmp_path: Path
) -> None:
    port = _free_port()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),  # its config file goes here, not into the developer's home
        "MINTOKEN_COMPRESS_URL": f"{server.url}/v1/cli/compress-context",
        "MINTOKEN_TELEMETRY_URL": f"{server.url}/v1/cli-telemetry",
    }
    log = tmp_path / "reference-proxy.log"
    with open(log, "wb") as out:
        proxy = subprocess.Popen(
            [
                str(reference_cli), "proxy", "--port", str(port), "--key", account.key, "--level", "aggressive",
                "--anthropic-upstream", mock.base_url, "--openai-upstream", mock.base_url,
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with http_client(base_url=f"http://127.0.0.1:{port}") as http:
                    if http.get("/health").status_code == 200:
                        break
            except Exception:
                pass
            assert proxy.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)

        session = _long_session()
        client = anthropic.Anthropic(base_url=f"http://127.0.0.1:{port}", api_key=PROVIDER_KEYS["anthropic"])
        reply = client.messages.create(**session)
        assert reply.content[0].text

        upstream = [r for r in mock.requests() if r.path == "/v1/messages"]
        assert len(upstream) == 1, log.read_text()
        sent = upstream[0].json()
        # Compressed by our server: old tool results truncated with our marker, smaller.
        assert len(str(sent)) < len(str(session)) * 0.6, log.read_text()
        results = [
            block
            for message in sent["messages"]
            if isinstance(message["content"], list)
            for block in message["content"]
            if block.get("type") == "tool_result"
        ]
        assert any(MARKER_PREFIX in str(block["content"]) for block in results)
        # Every tool_use still has its tool_result, and the buried error lines survive.
        uses = {
            block["id"]
            for message in sent["messages"]
            if isinstance(message["content"], list)
            for block in message["content"]
            if block.get("type") == "tool_use"
        }
        assert uses == {block["tool_use_id"] for block in results}
        assert all(f"error[E0{i}42]" in str(sent) for i in range(8))
        # The provider key went upstream as the SDK sent it; the mintoken key did not.
        credentials = {upstream[0].header("x-api-key"), upstream[0].header("authorization")}
        assert credentials & {PROVIDER_KEYS["anthropic"], f"Bearer {PROVIDER_KEYS['anthropic']}"}
        assert account.key not in upstream[0].body
        assert all(account.key not in value for _, value in upstream[0].headers)

        # The CLI's compress call and its telemetry report are in our analytics.
        with http_client(base_url=server.url, headers={"Authorization": f"Bearer {account.access_token}"}) as http:
            deadline = time.monotonic() + 10
            while True:
                keys = http.get("/v1/analytics/by-key").json()["keys"]
                mine = [k for k in keys if k["key_prefix"] == account.key[:12]]
                summary = http.get("/v1/analytics/summary").json()
                if mine and summary.get("context_tokens_saved", 0) > 0 and summary["total_output_tokens"] > 0:
                    break
                assert time.monotonic() < deadline, (keys, summary, log.read_text())
                time.sleep(0.3)
    finally:
        proxy.terminate()
        try:
            proxy.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proxy.kill()
