"""Shared machinery of the official-SDK conformance suite.

Everything here is SDK-agnostic: starting the binaries, talking to the mock's control
routes, reading the skill texts from the Rust source, capturing what an SDK put on the
wire, and the checks every test repeats (credentials upstream, no mintoken secret
upstream, mintoken's response headers). The expected upstream bodies are computed here
from what the SDK sent, following mintoken's documented injection rules, so a test can
compare the whole forwarded body and not only the part it cares about.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import re
import subprocess
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The SDKs of this generation ship httpx under the name `httpx2`; older ones use `httpx`.
try:
    import httpx2 as httpx
except ImportError:  # pragma: no cover - depends on the installed SDK generation
    import httpx  # type: ignore[no-redef]

REPO = Path(__file__).resolve().parents[2]
SKILL_RS = REPO / "crates" / "mintoken-compress" / "src" / "skill.rs"

# Provider keys the suite hands to mintoken in X-Provider-Key. Distinct per provider so a
# key written to the wrong upstream is noticed; URL-safe so `?key=` needs no encoding.
PROVIDER_KEYS = {
    "openai": "sk-proj-suiteOpenAIProviderKey0001",
    "anthropic": "sk-ant-suiteAnthropicProviderKey0002",
    "google": "AIzaSuiteGoogleProviderKey0003",
}

# The mock's default assistant text (crates/mintoken-mock/src/behavior.rs).
MOCK_REPLY = "Hello! This is the mock upstream answering your request."

# A 2x1 RGBA PNG. Its base64 contains `+` and `=`, so any re-encoding (URL-safe
# alphabet, stripped padding) on the way upstream would show.
PNG_B64 = "iVBORw0KGgoAAAANSUhEUgAAAAIAAAABCAYAAAD0In+KAAAADklEQVR42mP4z8AAQg0AD3oDfmqBMeEAAAAASUVORK5CYII="
PNG_BYTES = base64.b64decode(PNG_B64)

# Environment variables the SDKs (or mintoken) read on their own. They are removed so a
# developer's real credentials or endpoints never leak into, or redirect, the suite.
_SCRUBBED_PREFIXES = ("OPENAI_", "ANTHROPIC_", "GOOGLE_", "GEMINI_", "MINTOKEN_")
_KEPT = {"MINTOKEN_BIN_DIR", "MINTOKEN_SKIP_BUILD"}


def scrub_environment() -> None:
    for name in list(os.environ):
        if name.startswith(_SCRUBBED_PREFIXES) and name not in _KEPT:
            del os.environ[name]


def http_client(**kwargs: Any) -> httpx.Client:
    """A plain client for the suite's own calls; never routed through an env proxy."""
    kwargs.setdefault("timeout", 20.0)
    return httpx.Client(trust_env=False, **kwargs)


# ---------------------------------------------------------------------------------------
# Skill texts, read from the Rust source.
# ---------------------------------------------------------------------------------------


def _rust_unescape(literal: str) -> str:
    """Decodes the body of a Rust "…" string literal.

    A backslash at a line end joins the lines: the newline and the next line's leading
    whitespace are dropped.
    """
    out: list[str] = []
    i = 0
    simple = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "\\": "\\", '"': '"', "'": "'"}
    while i < len(literal):
        c = literal[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        nxt = literal[i + 1]
        if nxt == "\n" or (nxt == "\r" and literal[i + 2 : i + 3] == "\n"):
            i += 2
            while i < len(literal) and literal[i] in " \t\n\r":
                i += 1
        elif nxt in simple:
            out.append(simple[nxt])
            i += 2
        elif nxt == "x":
            out.append(chr(int(literal[i + 2 : i + 4], 16)))
            i += 4
        elif nxt == "u":
            end = literal.index("}", i)
            out.append(chr(int(literal[i + 3 : end], 16)))
            i = end + 1
        else:
            raise ValueError(f"unsupported escape \\{nxt} in skill.rs")
    return "".join(out)


def _fnv1a(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def load_skills(path: Path = SKILL_RS) -> dict[str, str]:
    """The skill text per intensity (`lite`, `full`, `ultra`), exactly as mintoken sends it.

    The parse is checked against the golden (length, FNV-1a) table in skill.rs's own
    tests, so a parser mistake fails loudly instead of weakening every assertion.
    """
    source = path.read_text(encoding="utf-8")
    skills = {
        m.group(1).lower(): _rust_unescape(m.group(2))
        for m in re.finditer(r'const (LITE|FULL|ULTRA): &str = "((?:[^"\\]|\\.)*)";', source, re.S)
    }
    if set(skills) != {"lite", "full", "ultra"}:
        raise RuntimeError(f"could not find the LITE/FULL/ULTRA constants in {path}")
    pinned = re.findall(r"\(Intensity::(\w+), (\d+), (0x[0-9a-fA-F]+)\)", source)
    for level, length, fingerprint in pinned:
        data = skills[level.lower()].encode("utf-8")
        if (len(data), _fnv1a(data)) != (int(length), int(fingerprint, 16)):
            raise RuntimeError(f"parsed {level} skill does not match the golden values pinned in {path}")
    return skills


SKILLS = load_skills()
FULL = SKILLS["full"]


def skill_for(intensity: str) -> str | None:
    return None if intensity == "none" else SKILLS[intensity]


def prepend(skill: str, existing: str) -> str:
    """mintoken's documented join: skill, a blank line, the original prompt."""
    return f"{skill}\n\n{existing}" if existing else skill


# ---------------------------------------------------------------------------------------
# Expected upstream bodies: what the SDK sent, transformed as the contract documents.
# ---------------------------------------------------------------------------------------


def expect_openai_chat(sent: dict, skill: str | None, *, streaming: bool = False) -> dict:
    body = copy.deepcopy(sent)
    if skill is not None:
        messages = body["messages"]
        for message in messages:
            if message.get("role") in ("system", "developer"):
                content = message.get("content")
                if isinstance(content, list):
                    message["content"] = [{"type": "text", "text": skill}, *content]
                else:
                    message["content"] = prepend(skill, content or "")
                break
        else:
            messages.insert(0, {"role": "system", "content": skill})
    if streaming:
        # mintoken asks for usage in the stream when the client did not (and hides it).
        options = dict(body.get("stream_options") or {})
        if options.get("include_usage") is not True:
            options["include_usage"] = True
            body["stream_options"] = options
    return body


def expect_openai_responses(sent: dict, skill: str | None) -> dict:
    body = copy.deepcopy(sent)
    if skill is not None:
        body["instructions"] = prepend(skill, body.get("instructions") or "")
    return body


def expect_anthropic(sent: dict, skill: str | None) -> dict:
    body = copy.deepcopy(sent)
    if skill is not None:
        system = body.get("system")
        if isinstance(system, list):
            body["system"] = [{"type": "text", "text": skill}, *system]
        else:
            body["system"] = prepend(skill, system or "")
    return body


def expect_google(sent: dict, skill: str | None) -> dict:
    body = copy.deepcopy(sent)
    if skill is not None:
        instruction = body.get("systemInstruction")
        text_parts = [p for p in (instruction or {}).get("parts", []) if "text" in p]
        if text_parts:
            text_parts[0]["text"] = prepend(skill, text_parts[0]["text"])
        else:
            body["systemInstruction"] = {"parts": [{"text": skill}]}
    return body


# ---------------------------------------------------------------------------------------
# The mock upstream.
# ---------------------------------------------------------------------------------------


@dataclass
class Recorded:
    """One request as it reached the mock upstream."""

    method: str
    path: str
    query: str | None
    headers: list[tuple[str, str]]
    body: str

    def header_values(self, name: str) -> list[str]:
        return [v for n, v in self.headers if n == name.lower()]

    def header(self, name: str) -> str | None:
        values = self.header_values(name)
        return values[0] if values else None

    def query_params(self) -> dict[str, list[str]]:
        return urllib.parse.parse_qs(self.query or "", keep_blank_values=True)

    def json(self) -> Any:
        return json.loads(self.body)


class Mock:
    """Client of mintoken-mock's `/_mock/` control routes."""

    def __init__(self, base_url: str):
        self.base_url = base_url
        self._http = http_client(base_url=base_url)

    def set_behavior(self, **changes: Any) -> None:
        behavior = {"first_byte_delay_ms": 0, "chunk_delay_ms": 0, "reply_text": None, "fault": None}
        behavior.update(changes)
        self._http.post("/_mock/behavior", json=behavior).raise_for_status()

    def clear(self) -> None:
        self._http.delete("/_mock/requests").raise_for_status()

    def reset(self) -> None:
        self.set_behavior()
        self.clear()

    def requests(self) -> list[Recorded]:
        response = self._http.get("/_mock/requests")
        response.raise_for_status()
        return [
            Recorded(r["method"], r["path"], r.get("query"), [tuple(h) for h in r["headers"]], r["body"])
            for r in response.json()
        ]

    def only_request(self) -> Recorded:
        """The single request that reached the upstream since the last reset."""
        requests = self.requests()
        assert len(requests) == 1, f"expected exactly one upstream request, got {len(requests)}: " + ", ".join(
            f"{r.method} {r.path}" for r in requests
        )
        return requests[0]

    def close(self) -> None:
        self._http.close()


# ---------------------------------------------------------------------------------------
# What the SDK put on the wire.
# ---------------------------------------------------------------------------------------


@dataclass
class Capture:
    """httpx event hooks that keep every request an SDK sends and every response head it
    gets. The request body is the ground truth the upstream body is compared with."""

    requests: list[Any] = field(default_factory=list)
    responses: list[Any] = field(default_factory=list)

    def _on_request(self, request: Any) -> None:
        request.read()
        self.requests.append(request)

    def _on_response(self, response: Any) -> None:
        self.responses.append(response)

    def hooks(self) -> dict[str, list]:
        return {"request": [self._on_request], "response": [self._on_response]}

    def client(self, cls: type = httpx.Client, **kwargs: Any) -> Any:
        kwargs.setdefault("timeout", 20.0)
        return cls(event_hooks=self.hooks(), trust_env=False, **kwargs)

    @property
    def sent(self) -> Any:
        """The last request the SDK sent."""
        assert self.requests, "the SDK sent nothing"
        return self.requests[-1]

    def sent_json(self) -> dict:
        return json.loads(self.sent.content)

    @property
    def response_headers(self) -> Any:
        assert self.responses, "the SDK received no response"
        return self.responses[-1].headers


# ---------------------------------------------------------------------------------------
# Checks every proxied request repeats.
# ---------------------------------------------------------------------------------------


def assert_no_mintoken_secrets(upstream: Recorded, *mintoken_keys: str) -> None:
    """Neither a mintoken key nor X-Provider-Key may reach the provider, in any header
    (name or value), in the query string (raw or decoded) or in the body."""
    for name, value in upstream.headers:
        assert name != "x-provider-key", "X-Provider-Key was forwarded upstream"
        assert "mt_live_" not in value, f"a mintoken key reached the upstream in header {name!r}"
        for key in mintoken_keys:
            assert key not in value, f"the mintoken key reached the upstream in header {name!r}"
    places = {
        "query string": upstream.query or "",
        "decoded query string": urllib.parse.unquote_plus(upstream.query or ""),
        "body": upstream.body,
    }
    for where, text in places.items():
        assert "mt_live_" not in text, f"a mintoken key reached the upstream in the {where}"
        for key in mintoken_keys:
            assert key not in text, f"the mintoken key reached the upstream in the {where}"


def _assert_provider_key_nowhere_else(upstream: Recorded, provider_key: str, allowed_header: str | None) -> None:
    for name, value in upstream.headers:
        if name != allowed_header:
            assert provider_key not in value, f"the provider key also appeared in header {name!r}"
    assert provider_key not in upstream.body, "the provider key appeared in the forwarded body"


def assert_openai_credential(upstream: Recorded, provider_key: str = PROVIDER_KEYS["openai"]) -> None:
    assert upstream.header_values("authorization") == [f"Bearer {provider_key}"]
    assert provider_key not in (upstream.query or "")
    _assert_provider_key_nowhere_else(upstream, provider_key, "authorization")


def assert_anthropic_credential(upstream: Recorded, provider_key: str = PROVIDER_KEYS["anthropic"]) -> None:
    assert upstream.header_values("x-api-key") == [provider_key]
    assert upstream.header("authorization") is None, "Authorization must not be forwarded to Anthropic"
    assert provider_key not in (upstream.query or "")
    _assert_provider_key_nowhere_else(upstream, provider_key, "x-api-key")


def assert_google_credential(upstream: Recorded, provider_key: str = PROVIDER_KEYS["google"]) -> None:
    assert upstream.query_params().get("key") == [provider_key], f"upstream query was {upstream.query!r}"
    assert upstream.header("x-goog-api-key") is None, "x-goog-api-key must not be forwarded (the key goes in ?key=)"
    assert upstream.header("authorization") is None, "Authorization must not be forwarded to Google"
    _assert_provider_key_nowhere_else(upstream, provider_key, None)


def assert_mintoken_headers(headers: Any, intensity: str = "full") -> None:
    """Response headers mintoken adds to every proxied answer."""
    assert headers.get("x-mintoken-intensity") == intensity
    assert (headers.get("x-mintoken-duration-ms") or "").isdigit()
    assert headers.get("x-request-id")


# ---------------------------------------------------------------------------------------
# Processes.
# ---------------------------------------------------------------------------------------


class Process:
    """A child process whose output goes to a log file; started, then waited for until
    it prints its `<banner> http://ADDR` line."""

    def __init__(self, args: list[str], log_path: Path, banner: str, env: dict[str, str], timeout: float = 30.0):
        self.args = args
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self.proc = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
        self.url = self._wait_for_banner(banner, timeout)

    def _wait_for_banner(self, banner: str, timeout: float) -> str:
        pattern = re.compile(re.escape(banner) + r" (http://\S+)")
        deadline = time.monotonic() + timeout
        while True:
            found = pattern.search(self.log())
            if found:
                return found.group(1).rstrip("/")
            if self.proc.poll() is not None:
                self.stop()
                raise RuntimeError(f"{self.args[0]} exited with {self.proc.returncode} before listening:\n{self.log()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self.args[0]} did not print {banner!r} within {timeout} s:\n{self.log()}")
            time.sleep(0.02)

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._log.close()
