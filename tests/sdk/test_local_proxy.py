"""The official `anthropic` and `openai` SDKs through `mintoken proxy` (the local agent
proxy, SPEC §15) to mintoken-mock.

Here the SDK's own credentials are the provider credentials: the proxy forwards them
unchanged, compresses the old tool results of long sessions, and relays the upstream's
status, headers and bytes as they were sent — streams, errors and gzip bodies included.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import anthropic
import openai
import pytest

from mintoken_harness import MOCK_REPLY, Capture, Mock, Process, http_client

ANTHROPIC_KEY = "sk-ant-local-proxy-sdk-0001"
OPENAI_KEY = "sk-proj-local-proxy-sdk-0002"


@pytest.fixture(scope="module")
def local_proxy(bin_dir: Path, mock: Mock, tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("local-proxy")
    home = root / "home"
    home.mkdir()
    # A home of its own: the proxy reads ~/.mintoken/config.json.
    env = {**os.environ, "HOME": str(home)}
    process = Process(
        [
            str(bin_dir / "mintoken"),
            "proxy",
            "--port",
            "0",
            "--level",
            "aggressive",
            "--anthropic-upstream",
            mock.base_url,
            "--openai-upstream",
            mock.base_url + "/v1",
        ],
        root / "proxy.log",
        "mintoken proxy listening on",
        env,
    )
    try:
        yield process
    finally:
        process.stop()


def anthropic_client(proxy: Process, capture: Capture) -> anthropic.Anthropic:
    # Claude Code sets ANTHROPIC_BASE_URL to the proxy root; the mock wants `x-api-key`.
    return anthropic.Anthropic(
        base_url=proxy.url,
        api_key=ANTHROPIC_KEY,
        default_headers={"x-api-key": ANTHROPIC_KEY},
        max_retries=0,
        http_client=capture.client(anthropic.DefaultHttpxClient),
    )


def openai_client(proxy: Process, capture: Capture) -> openai.OpenAI:
    # Codex and the SDK take OPENAI_BASE_URL with the /v1.
    return openai.OpenAI(
        base_url=proxy.url + "/v1",
        api_key=OPENAI_KEY,
        max_retries=0,
        http_client=capture.client(openai.DefaultHttpxClient),
    )


def build_log(lines: int, salt: int) -> str:
    return "\n".join(
        f"error[E0425]: cannot find value `x{salt}` in this scope"
        if i == lines // 2
        else f"   Compiling crate{i}-{salt} v0.{i}.0 (/work/src/crate{i})"
        for i in range(lines)
    )


FILE_DUMP = "\n".join(f"fn f{i}() -> u32 {{ {i} }}" for i in range(400))


def anthropic_messages() -> list[dict]:
    messages: list[dict] = [{"role": "user", "content": "Fix the build."}]
    for turn in range(6):
        tool_id = f"toolu_{turn:02d}"
        output = FILE_DUMP if turn % 2 == 0 else build_log(2000, turn)
        messages.append(
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": f"Step {turn}."},
                    {"type": "tool_use", "id": tool_id, "name": "bash", "input": {"command": "cargo build"}},
                ],
            }
        )
        messages.append({"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool_id, "content": output}]})
    for i in range(4):
        messages.append({"role": "assistant", "content": f"Working on step {i}."})
        messages.append({"role": "user", "content": f"Keep going, step {i}."})
    return messages


def openai_messages() -> list[dict]:
    messages: list[dict] = [
        {"role": "system", "content": "You are a coding agent."},
        {"role": "user", "content": "Fix the build."},
    ]
    for turn in range(6):
        call_id = f"call_{turn}"
        output = FILE_DUMP if turn % 2 == 0 else build_log(2000, turn)
        messages.append(
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"id": call_id, "type": "function", "function": {"name": "bash", "arguments": "{}"}}],
            }
        )
        messages.append({"role": "tool", "tool_call_id": call_id, "content": output})
    for i in range(4):
        messages.append({"role": "user", "content": f"Keep going, step {i}."})
        messages.append({"role": "assistant", "content": f"Working on step {i}."})
    messages.append({"role": "user", "content": "Now summarise what failed."})
    return messages


def chunks_sent(mock: Mock, request_index: int) -> bytes:
    with http_client(base_url=mock.base_url) as http:
        log = http.get("/_mock/chunks").json()
    mine = sorted((c for c in log if c["request_index"] == request_index), key=lambda c: c["event_index"])
    return "".join(c["data"] for c in mine).encode()


def console_line(proxy: Process, path: str, containing: str) -> str:
    """The proxy's console line for `path` that contains `containing` (lines are printed
    when a response body ends, so wait a little)."""
    deadline = time.monotonic() + 5
    while True:
        lines = [line for line in proxy.log().splitlines() if line.startswith(f"POST {path} ") and containing in line]
        if lines:
            return lines[-1]
        assert time.monotonic() < deadline, f"no console line with {containing!r}:\n{proxy.log()}"
        time.sleep(0.02)


def check_compressed(headers, upstream_body: bytes, sent_body: bytes, proxy: Process, path: str) -> None:
    """The headers say compression ran and the mock received fewer bytes; the console line
    carries the same numbers as the headers."""
    before = int(headers["x-mintoken-cli-tokens-before"])
    after = int(headers["x-mintoken-cli-tokens-after"])
    saved = int(headers["x-mintoken-cli-tokens-saved"])
    assert saved == before - after and after < before // 2, (before, after, saved)
    assert "x-mintoken-cli-skipped" not in headers
    assert len(upstream_body) < len(sent_body) // 2
    line = console_line(proxy, path, f"{before:,} → {after:,} tokens (saved {saved:,}")
    assert re.match(rf"POST {re.escape(path)} 200 · ", line), line


def check_anthropic_pairs(body: dict) -> None:
    messages = body["messages"]
    pairs = 0
    for i, message in enumerate(messages):
        for block in message["content"] if isinstance(message["content"], list) else []:
            if block["type"] == "tool_use":
                following = messages[i + 1]["content"]
                assert any(b["type"] == "tool_result" and b["tool_use_id"] == block["id"] for b in following)
                pairs += 1
    assert pairs == 6


class TestAnthropic:
    PATH = "/v1/messages"

    def test_long_session(self, local_proxy, mock, capture):
        client = anthropic_client(local_proxy, capture)
        raw = client.messages.with_raw_response.create(
            model="claude-sonnet-5-5", max_tokens=1024, system="You are a coding agent.", messages=anthropic_messages()
        )
        message = raw.parse()
        assert message.content[0].text == MOCK_REPLY
        upstream = mock.only_request()
        assert (upstream.method, upstream.path) == ("POST", self.PATH)
        # Whatever credentials and Anthropic headers the SDK sent arrive unchanged.
        sent = capture.requests[0].headers
        assert upstream.header("x-api-key") == ANTHROPIC_KEY
        for name in ("authorization", "x-api-key", "anthropic-version", "user-agent"):
            assert upstream.header(name) == sent.get(name), name
        check_anthropic_pairs(upstream.json())
        assert upstream.json()["system"] == "You are a coding agent."
        check_compressed(raw.headers, upstream.body.encode(), capture.requests[0].content, local_proxy, self.PATH)
        # The usage the SDK reads is the mock's, computed on what it received.
        assert message.usage.input_tokens < len(capture.requests[0].content) // 8

    def test_long_session_streamed_byte_equal(self, local_proxy, mock, capture):
        client = anthropic_client(local_proxy, capture)
        with client.messages.with_streaming_response.create(
            model="claude-sonnet-5-5", max_tokens=1024, messages=anthropic_messages(), stream=True
        ) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            relayed = b"".join(response.iter_bytes())
        assert relayed == chunks_sent(mock, 0)
        check_anthropic_pairs(mock.only_request().json())
        # …and the SDK's own stream helper reads it.
        mock.clear()
        with client.messages.stream(model="claude-sonnet-5-5", max_tokens=1024, messages=anthropic_messages()) as stream:
            assert stream.get_final_text() == MOCK_REPLY

    @pytest.mark.parametrize("stream", [False, True])
    def test_rate_limit_reaches_the_sdk(self, local_proxy, mock, capture, stream):
        message = "mock says: slow down (anthropic)"
        body = json.dumps({"type": "error", "error": {"type": "rate_limit_error", "message": message}})
        mock.set_behavior(fault={"kind": "status", "status": 429, "body": body, "retry_after": "11"})
        client = anthropic_client(local_proxy, capture)
        with pytest.raises(anthropic.RateLimitError) as raised:
            if stream:
                with client.messages.stream(model="m", max_tokens=10, messages=anthropic_messages()) as s:
                    s.get_final_text()
            else:
                client.messages.create(model="m", max_tokens=10, messages=anthropic_messages())
        assert raised.value.status_code == 429
        assert message in str(raised.value)
        assert raised.value.response.headers["retry-after"] == "11"
        assert raised.value.response.text == body

    def test_server_error_reaches_the_sdk(self, local_proxy, mock, capture):
        body = json.dumps({"type": "error", "error": {"type": "api_error", "message": "mock fell over"}})
        mock.set_behavior(fault={"kind": "status", "status": 500, "body": body})
        with pytest.raises(anthropic.InternalServerError) as raised:
            anthropic_client(local_proxy, capture).messages.create(
                model="m", max_tokens=10, messages=[{"role": "user", "content": "hi"}], stream=True
            )
        assert raised.value.status_code == 500
        assert "mock fell over" in str(raised.value)

    def test_gzip_upstream_is_readable(self, local_proxy, mock, capture):
        mock.set_behavior(gzip=True)
        raw = anthropic_client(local_proxy, capture).messages.with_raw_response.create(
            model="m", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
        )
        assert raw.headers["content-encoding"] == "gzip"
        assert raw.parse().content[0].text == MOCK_REPLY

    def test_count_tokens_passes_through(self, local_proxy, mock, capture):
        counted = anthropic_client(local_proxy, capture).messages.count_tokens(
            model="claude-sonnet-5-5", messages=anthropic_messages()
        )
        upstream = mock.only_request()
        assert upstream.path == "/v1/messages/count_tokens"
        # Never compressed: the body arrives as the SDK sent it.
        assert upstream.body.encode() == capture.requests[0].content
        assert counted.input_tokens > 10_000


class TestOpenAI:
    PATH = "/v1/chat/completions"

    def test_long_session(self, local_proxy, mock, capture):
        client = openai_client(local_proxy, capture)
        raw = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=openai_messages())
        completion = raw.parse()
        assert completion.choices[0].message.content == MOCK_REPLY
        upstream = mock.only_request()
        assert upstream.header("authorization") == f"Bearer {OPENAI_KEY}"
        messages = upstream.json()["messages"]
        for i, message in enumerate(messages):
            for call in message.get("tool_calls") or []:
                assert messages[i + 1]["tool_call_id"] == call["id"]
        check_compressed(raw.headers, upstream.body.encode(), capture.requests[0].content, local_proxy, self.PATH)

    def test_long_session_streamed_byte_equal(self, local_proxy, mock, capture):
        client = openai_client(local_proxy, capture)
        with client.chat.completions.with_streaming_response.create(
            model="gpt-4o-mini", messages=openai_messages(), stream=True
        ) as response:
            assert response.status_code == 200
            assert int(response.headers["x-mintoken-cli-tokens-saved"]) > 0
            relayed = b"".join(response.iter_bytes())
        assert relayed == chunks_sent(mock, 0)
        mock.clear()
        stream = client.chat.completions.create(model="gpt-4o-mini", messages=openai_messages(), stream=True)
        text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
        assert text == MOCK_REPLY

    def test_responses_long_session(self, local_proxy, mock, capture):
        items: list[dict] = [{"role": "user", "content": "Fix the build."}]
        for turn in range(6):
            items.append({"type": "function_call", "call_id": f"call_{turn}", "name": "bash", "arguments": "{}"})
            items.append({"type": "function_call_output", "call_id": f"call_{turn}", "output": build_log(2000, turn)})
        items.extend({"role": "user", "content": f"Keep going, step {i}."} for i in range(4))
        raw = openai_client(local_proxy, capture).responses.with_raw_response.create(model="gpt-4.1", input=items)
        assert raw.parse().output_text == MOCK_REPLY
        assert int(raw.headers["x-mintoken-cli-tokens-saved"]) > 0
        sent = mock.only_request().json()["input"]
        calls = [i["call_id"] for i in sent if i.get("type") == "function_call"]
        assert calls == [i["call_id"] for i in sent if i.get("type") == "function_call_output"]

    @pytest.mark.parametrize("stream", [False, True])
    def test_rate_limit_reaches_the_sdk(self, local_proxy, mock, capture, stream):
        message = "mock says: slow down (openai)"
        body = json.dumps({"error": {"message": message, "type": "requests", "param": None, "code": "rate_limit_exceeded"}})
        mock.set_behavior(fault={"kind": "status", "status": 429, "body": body, "retry_after": "3"})
        with pytest.raises(openai.RateLimitError) as raised:
            openai_client(local_proxy, capture).chat.completions.create(
                model="gpt-4o-mini", messages=openai_messages(), stream=stream
            )
        assert raised.value.status_code == 429
        assert message in str(raised.value)
        assert raised.value.response.text == body
        assert raised.value.response.headers["retry-after"] == "3"
        assert raised.value.code == "rate_limit_exceeded"

    def test_gzip_upstream_is_readable(self, local_proxy, mock, capture):
        mock.set_behavior(gzip=True)
        raw = openai_client(local_proxy, capture).chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
        )
        assert raw.headers["content-encoding"] == "gzip"
        assert raw.parse().choices[0].message.content == MOCK_REPLY

    def test_models_pass_through(self, local_proxy, mock, capture):
        # The mock has no /v1/models: its own 404 comes back, proving the request reached it.
        with pytest.raises(openai.NotFoundError):
            openai_client(local_proxy, capture).models.list()
        upstream = mock.only_request()
        assert (upstream.method, upstream.path) == ("GET", "/v1/models")
        assert upstream.header("authorization") == f"Bearer {OPENAI_KEY}"


def test_health_and_index(local_proxy):
    with http_client(base_url=local_proxy.url) as http:
        health = http.get("/health").json()
        assert health["service"] == "mintoken proxy" and health["level"] == "aggressive"
        index = http.get("/").text
    assert "ANTHROPIC_BASE_URL=" in index
    banner = local_proxy.log()
    assert f"ANTHROPIC_BASE_URL={local_proxy.url}\n" in banner
    assert f"OPENAI_BASE_URL={local_proxy.url}/v1\n" in banner
