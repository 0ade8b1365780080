"""Session fixtures: one mintoken-mock upstream, one `mintoken serve` in front of it, and
the accounts and keys the tests use.

Quota: the whole suite runs on one server. The config makes the default `free` plan
unlimited (and raises its key cap) and defines a `tiny` plan of 5 output tokens a month;
one dedicated account is moved to `tiny` with the admin CLI before its key is ever used,
then drained with a single request (the mock's default reply is 9 words = 9 tokens).
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from mintoken_harness import PROVIDER_KEYS, REPO, Capture, Mock, Process, http_client, scrub_environment

CONFIG_TOML = """\
# Written by tests/sdk/conftest.py.
[plans.free]
monthly_output_tokens = 0      # unlimited: only the quota test may hit a 429
requests_per_minute = 100000   # never the limit under test
max_keys = 50

[plans.tiny]
monthly_output_tokens = 5
requests_per_minute = 100000
max_keys = 50
"""

PASSWORD = "a long password for the sdk suite"


def pytest_configure(config: pytest.Config) -> None:
    scrub_environment()


@dataclass
class Server:
    url: str
    data_dir: Path
    config: Path
    bin_dir: Path
    process: Process

    def cli(self, *args: str) -> str:
        """Runs a `mintoken` admin command against the running server's data directory."""
        command = [str(self.bin_dir / "mintoken"), *args, "--data-dir", str(self.data_dir), "--config", str(self.config)]
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, env=_child_env())
        assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout}{done.stderr}"
        return done.stdout


@dataclass
class Account:
    email: str
    access_token: str
    key: str
    """Active `mt_live_…` key with the default settings (intensity `full`)."""
    revoked_key: str
    """A key that worked once and was then revoked."""


def _child_env() -> dict[str, str]:
    # The environment was scrubbed of MINTOKEN_* at start-up, so flags alone configure.
    return {**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn,mintoken=info")}


@pytest.fixture(scope="session")
def bin_dir() -> Path:
    """Directory with `mintoken` and `mintoken-mock`.

    `MINTOKEN_BIN_DIR` selects prebuilt binaries as they are. Otherwise the debug build
    is (re)built here, unless `MINTOKEN_SKIP_BUILD=1` says the caller (tests/sdk/run)
    just did it, so running pytest by hand never tests stale binaries.
    """
    configured = os.environ.get("MINTOKEN_BIN_DIR")
    directory = Path(configured) if configured else REPO / "target" / "debug"
    if not configured and os.environ.get("MINTOKEN_SKIP_BUILD") != "1":
        build = subprocess.run(
            ["cargo", "build", "--quiet", "-p", "mintoken", "-p", "mintoken-mock"],
            cwd=REPO,
            capture_output=True,
            text=True,
        )
        if build.returncode != 0:
            pytest.exit(f"cargo build failed:\n{build.stderr}", returncode=1)
    for name in ("mintoken", "mintoken-mock"):
        if not (directory / name).is_file():
            pytest.exit(f"{directory / name} not found; run `cargo build -p mintoken -p mintoken-mock`", returncode=1)
    return directory


@pytest.fixture(scope="session")
def mock(bin_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    logs = tmp_path_factory.mktemp("logs")
    process = Process(
        [str(bin_dir / "mintoken-mock"), "--listen", "127.0.0.1:0"],
        logs / "mock.log",
        "mintoken-mock listening on",
        _child_env(),
    )
    client = Mock(process.url)
    try:
        yield client
    finally:
        client.close()
        process.stop()


@pytest.fixture(scope="session")
def server(bin_dir: Path, mock: Mock, tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("mintoken")
    data_dir = root / "data"
    config = root / "mintoken.toml"
    config.write_text(CONFIG_TOML)
    process = Process(
        [
            str(bin_dir / "mintoken"),
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--config",
            str(config),
            "--data-dir",
            str(data_dir),
            "--openai-base-url",
            mock.base_url,
            "--anthropic-base-url",
            mock.base_url,
            "--google-base-url",
            mock.base_url,
            "--upstream-timeout-secs",
            "20",
        ],
        root / "mintoken.log",
        "mintoken listening on",
        _child_env(),
    )
    _server_log.append(process.log_path)
    try:
        yield Server(process.url, data_dir, config, bin_dir, process)
    finally:
        process.stop()


def _signup(server: Server, email: str) -> str:
    with http_client(base_url=server.url) as http:
        response = http.post("/v1/auth/signup", json={"email": email, "password": PASSWORD})
        assert response.status_code == 200, response.text
        return response.json()["access_token"]


def _create_key(server: Server, access_token: str, name: str) -> dict:
    with http_client(base_url=server.url, headers={"Authorization": f"Bearer {access_token}"}) as http:
        response = http.post("/v1/auth/keys", json={"name": name})
        assert response.status_code == 201, response.text
        created = response.json()
        assert created["raw_key"].startswith("mt_live_")
        return created


def _chat(server: Server, key: str):
    """One raw OpenAI chat request, for fixtures that need to spend or prove a key."""
    with http_client(base_url=server.url) as http:
        return http.post(
            "/v1/chat/completions",
            headers={
                "Authorization": f"Bearer {key}",
                "X-Provider-Key": PROVIDER_KEYS["openai"],
                "X-Mintoken-Intensity": "none",
            },
            json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
        )


@pytest.fixture(scope="session")
def account(server: Server) -> Account:
    email = "sdk-suite@example.com"
    token = _signup(server, email)
    key = _create_key(server, token, "sdk-suite")["raw_key"]

    # Revoke a key that is already in the server's key cache, the case that matters.
    doomed = _create_key(server, token, "revoked")
    assert _chat(server, doomed["raw_key"]).status_code == 200
    with http_client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}) as http:
        response = http.delete(f"/v1/auth/keys/{doomed['id']}")
        assert response.status_code in (200, 204), response.text
    return Account(email, token, key, doomed["raw_key"])


@pytest.fixture(scope="session")
def exhausted_key(server: Server) -> str:
    """A key whose account has used up its monthly output-token quota."""
    email = "sdk-quota@example.com"
    token = _signup(server, email)
    # Before the key's first use, so the server loads the account with the new plan.
    server.cli("users", "set-plan", email, "tiny")
    key = _create_key(server, token, "quota")["raw_key"]

    first = _chat(server, key)
    assert first.status_code == 200, f"the first request within the quota failed: {first.text}"
    # Usage is recorded off the request path: poll until the quota is seen as used up.
    deadline = time.monotonic() + 10
    while (response := _chat(server, key)).status_code != 429:
        assert response.status_code == 200, response.text
        assert time.monotonic() < deadline, "the quota was never enforced"
        time.sleep(0.02)
    return key


@pytest.fixture(autouse=True)
def fresh_mock(mock: Mock) -> None:
    """Every test starts with the mock's default behaviour and an empty request log."""
    mock.reset()


# Set by the `server` fixture; read when a test fails.
_server_log: list[Path] = []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """On failure, attach the tail of mintoken's log to the report."""
    outcome = yield
    report = outcome.get_result()
    if report.failed and _server_log:
        lines = _server_log[0].read_text(encoding="utf-8", errors="replace").splitlines()
        report.sections.append(("mintoken log (last 12 lines)", "\n".join(lines[-12:])))


@pytest.fixture
def capture() -> Capture:
    """Records exactly what the SDK under test sent (one per test)."""
    return Capture()
