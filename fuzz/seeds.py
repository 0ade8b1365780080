#!/usr/bin/env python3
"""Writes the hand-made seed inputs of every fuzz target into fuzz/corpus/<target>/seed-*.

Shapes follow the real APIs (and crates/mintoken-mock). The input layouts are documented in
crates/mintoken/src/fuzz_entry.rs; 0xFF separates the parts of a multi-part input.
Run from anywhere: python3 fuzz/seeds.py
"""
import json
import os

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
SEP = b"\xff"


def write(target, name, data):
    os.makedirs(os.path.join(ROOT, target), exist_ok=True)
    with open(os.path.join(ROOT, target, "seed-" + name), "wb") as f:
        f.write(data)


def j(value):
    return json.dumps(value, separators=(",", ":")).encode()


def sse(events, crlf=False):
    end = b"\r\n\r\n" if crlf else b"\n\n"
    out = b""
    for name, data in events:
        if name:
            out += b"event: " + name.encode() + (b"\r\n" if crlf else b"\n")
        out += b"data: " + (data if isinstance(data, bytes) else j(data)) + end
    return out


CHAT_STREAM = sse([
    (None, {"id": "c1", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}], "usage": None}),
    (None, {"id": "c1", "choices": [{"index": 0, "delta": {"content": "Hello"}}], "usage": None}),
    (None, {"id": "c1", "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"name": "f", "arguments": "{\"a\""}}]}}], "usage": None}),
    (None, {"id": "c1", "choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17}}),
    (None, b"[DONE]"),
])
RESPONSES_STREAM = sse([
    ("response.created", {"type": "response.created", "sequence_number": 0, "response": {"id": "r1", "status": "in_progress"}}),
    ("response.output_text.delta", {"type": "response.output_text.delta", "sequence_number": 1, "delta": "Hi"}),
    ("response.completed", {"type": "response.completed", "sequence_number": 2, "response": {"id": "r1", "usage": {"input_tokens": 9, "output_tokens": 3, "total_tokens": 12}}}),
])
ANTHROPIC_STREAM = sse([
    ("message_start", {"type": "message_start", "message": {"id": "m1", "usage": {"input_tokens": 10, "cache_read_input_tokens": 5, "output_tokens": 1}}}),
    ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
    ("ping", {"type": "ping"}),
    ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi there"}}),
    ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 7}}),
    ("message_stop", {"type": "message_stop"}),
])
GEMINI_STREAM = sse([
    (None, {"candidates": [{"content": {"role": "model", "parts": [{"text": "Hi"}]}}], "usageMetadata": {"promptTokenCount": 4}}),
    (None, {"candidates": [{"content": {"parts": [{"text": " there"}]}, "finishReason": "STOP"}], "usageMetadata": {"promptTokenCount": 4, "candidatesTokenCount": 2, "thoughtsTokenCount": 1}}),
], crlf=True)

# --- sse: a count n, n chunk sizes, then the stream
for name, stream in [("chat", CHAT_STREAM), ("responses", RESPONSES_STREAM), ("anthropic", ANTHROPIC_STREAM), ("gemini", GEMINI_STREAM)]:
    write("sse", name, bytes([3, 1, 7, 0]) + stream)
write("sse", "mixed-endings", bytes([2, 2, 1]) + b": comment\n\ndata: a\r\rdata: b\r\n\r\nevent: x\ndata: c\ndata: d\n\ndata: tail")

# --- dialects: flags (dialect = flags % 4, 0x04 route model, 0x08 route stream, 0x10 v1,
#     intensity = (flags >> 5) % 4, 0x80 client asked for usage), request, response, stream
CHAT_REQ = {"model": "gpt-4o-mini", "messages": [{"role": "system", "content": "Be kind."}, {"role": "user", "content": [{"type": "text", "text": "Explain TCP"}, {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA=="}}]}], "stream": True, "temperature": 0.7, "seed": 123456789012345678901234567890}
CHAT_RESP = {"id": "c1", "object": "chat.completion", "choices": [{"index": 0, "message": {"role": "assistant", "content": "TCP is...", "refusal": None}, "finish_reason": "stop"}], "usage": {"prompt_tokens": 20, "completion_tokens": 9, "total_tokens": 29}}
RESPONSES_REQ = {"model": "gpt-4o-mini", "instructions": "Be brief.", "input": [{"role": "user", "content": [{"type": "input_text", "text": "hi"}]}], "stream": False, "max_output_tokens": 100}
RESPONSES_RESP = {"id": "r1", "output": [{"type": "message", "content": [{"type": "output_text", "text": "Hello"}]}], "usage": {"input_tokens": 9, "output_tokens": 3}}
ANTHROPIC_REQ = {"model": "claude-sonnet-4-5", "max_tokens": 1024, "system": [{"type": "text", "text": "Big doc", "cache_control": {"type": "ephemeral"}}], "messages": [{"role": "user", "content": "Write a poem"}], "stream": True}
ANTHROPIC_RESP = {"id": "m1", "type": "message", "content": [{"type": "text", "text": "Roses"}], "usage": {"input_tokens": 3, "cache_creation_input_tokens": 100, "output_tokens": 9}}
GEMINI_REQ = {"model": "models/gemini-2.0-flash", "contents": [{"role": "user", "parts": [{"text": "Why is the sky blue?"}]}], "systemInstruction": {"parts": [{"text": "Be kind."}]}, "generationConfig": {"maxOutputTokens": 200}}
GEMINI_RESP = [{"candidates": [{"content": {"parts": [{"text": "Rayleigh"}]}}], "usageMetadata": {"promptTokenCount": 4}}, {"usageMetadata": {"promptTokenCount": 4, "candidatesTokenCount": 9}}]
dialect_seeds = [
    ("chat", 0x20, CHAT_REQ, CHAT_RESP, CHAT_STREAM),
    ("chat-usage", 0x80 | 0x40, {"model": "m", "messages": [{"role": "developer", "content": [{"type": "text", "text": "Rules"}]}], "stream": True, "stream_options": {"include_usage": True}}, CHAT_RESP, CHAT_STREAM),
    ("responses", 0x41, RESPONSES_REQ, RESPONSES_RESP, RESPONSES_STREAM),
    ("anthropic", 0x62, ANTHROPIC_REQ, ANTHROPIC_RESP, ANTHROPIC_STREAM),
    ("gemini-body-route", 0x23, GEMINI_REQ, GEMINI_RESP, GEMINI_STREAM),
    ("gemini-native", 0x23 | 0x04 | 0x08 | 0x10, {"contents": [{"parts": [{"text": "hi"}]}], "system_instruction": {"parts": [{"inlineData": {"mimeType": "text/plain", "data": "eA=="}}]}}, GEMINI_RESP[0], GEMINI_STREAM),
]
for name, flags, req, resp, stream in dialect_seeds:
    write("dialects", name, bytes([flags]) + j(req) + SEP + j(resp) + SEP + stream)

# --- compress: flags (shape = flags % 4, level = (flags >> 2) % 3, 0x80 = JSON body),
#     then a JSON body, or bytes that build a conversation (see fuzz_entry::conversation)
log = "\n".join(f"   Compiling crate_{i} v0.1.{i}" for i in range(150)) + "\nerror[E0308]: mismatched types\n" + "\n".join(f"test t{i} ... ok" for i in range(100))
LOGS = [log, log, "ok", "done"]
for shape, name in enumerate(["chat", "responses", "anthropic", "gemini"]):
    if shape == 0:
        conv = {"model": "m", "messages": [{"role": "system", "content": "sys"}, {"role": "user", "content": "Fix the build.   \n\n\n\n" * 30}]
                + [m for i, log in enumerate(LOGS) for m in ({"role": "assistant", "tool_calls": [{"id": f"c{i}", "type": "function", "function": {"name": "sh", "arguments": "{}"}}]}, {"role": "tool", "tool_call_id": f"c{i}", "content": log})]}
    elif shape == 1:
        conv = {"model": "m", "instructions": "sys", "input": [{"role": "user", "content": "go"}] + [it for i, log in enumerate(LOGS) for it in ({"type": "function_call", "call_id": f"c{i}", "name": "sh", "arguments": "{}"}, {"type": "function_call_output", "call_id": f"c{i}", "output": log})]}
    elif shape == 2:
        conv = {"model": "m", "system": "sys", "messages": [{"role": "user", "content": "go"}] + [m for i, log in enumerate(LOGS) for m in ({"role": "assistant", "content": [{"type": "tool_use", "id": f"t{i}", "name": "sh", "input": {}}]}, {"role": "user", "content": [{"type": "tool_result", "tool_use_id": f"t{i}", "content": [{"type": "text", "text": log}]}]})]}
    else:
        conv = {"contents": [{"role": "user", "parts": [{"text": "go"}]}] + [c for i, log in enumerate(LOGS) for c in ({"role": "model", "parts": [{"functionCall": {"name": "sh", "args": {}}}]}, {"role": "user", "parts": [{"functionResponse": {"name": "sh", "response": {"output": log}}}]})], "systemInstruction": {"parts": [{"text": "sys"}]}}
    write("compress", f"json-{name}", bytes([0x80 | shape | (2 << 2)]) + j(conv))
    # structured: 12 steps: tool results of 31 lines x 63 repeats, a copy, user text, assistant text
    write("compress", f"built-{name}", bytes([shape | (1 << 2), 12]) + bytes([1, 31] + [0, 63, 1, 20, 2, 3] * 10 + [1, 0] * 12 + [0]) + bytes([2, 0, 1]) + bytes([0, 40, 8]) + b"Please fix this.   \n\n\n   ```rust\nfn a() {   \n\n}\n```\n" + bytes([3, 20]) + b"Working on it now...")

# --- classify: user text, system prompt, rule pattern
for name, user, system, pattern in [
    ("security", "How do I rotate a leaked AWS secret key and check for SQL injection?", "You are a security reviewer.", r"\bpassword\b"),
    ("legal", "Draft a GDPR data processing agreement clause.", "", "(?i)contract|gdpr"),
    ("code", "```rust\nfn main() {}\n```\nand\n```py\nprint(1)\n```\nwhy does this fail?", "", "fn\\s+main"),
    ("explain", "Explain how a B-tree works, step by step.", "Be concise.", "explain"),
    ("unicode", "日本語で説明してください ✓ ünïcødé 🦀 \r\n\t  ", "", "[\\p{Han}]+"),
]:
    write("classify", name, user.encode() + SEP + system.encode() + SEP + pattern.encode())
write("classify", "long-input", ("Paragraph about the deployment pipeline that repeats itself exactly.   \n\n\n\n" * 120).encode())
