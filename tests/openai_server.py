"""A local OpenAI-compatible chat-completions server on the loopback interface, for the judge fault matrix.

It validates every request's response schema as OpenAI's strict mode does and answers by a scripted
behaviour, counting what it received. Only 127.0.0.1 is bound, on a free port; the fixture stops it.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from evals.preflight import PREFLIGHT_PROMPT

SCHEMA_NAME = re.compile(r"^[a-zA-Z0-9_-]+$")


@dataclass
class Reply:
    status: int = 200
    content: str | None = '{"reasoning": "Clear and correct.", "score": 7}'
    finish_reason: str = "stop"
    refusal: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    raw: str | None = None
    """A body sent as it is (an error page, a non-JSON body)."""


Behaviour = Callable[[int, dict[str, Any]], Reply]
"""(index of this judge request, counting from 0, or -1 for the preflight; the request body) -> the reply."""


def in_their_format(index: int, body: dict[str, Any]) -> Reply:
    """The healthy grader: our judges' JSON grade, or AxBench's ``Rating: [[n]]`` when asked in its template
    (the rating cycles 0, 1, 2 with the request's index)."""
    if "[Sentence Fragment Start]" in str(body["messages"][-1].get("content")):
        return Reply(content=f"The fragment is plain.\n\nRating: [[{index % 3}]]")
    return Reply()


def strict_schema_errors(schema: Any, path: str = "$", forbid: tuple[str, ...] = ()) -> list[str]:
    """What OpenAI's strict mode would refuse: an object without additionalProperties false or with
    a property not required; ``forbid`` names keywords this server refuses as well (minimum, maximum)."""
    errors: list[str] = []
    if isinstance(schema, dict):
        for keyword in forbid:
            if keyword in schema:
                errors.append(f"{path}: '{keyword}' is not permitted")
        if schema.get("type") == "object":
            if schema.get("additionalProperties") is not False:
                errors.append(f"{path}: additionalProperties must be false")
            missing = sorted(set(schema.get("properties", {})) - set(schema.get("required", [])))
            if missing:
                errors.append(f"{path}: every property must be required, missing {missing}")
        for key, value in schema.items():
            errors += strict_schema_errors(value, f"{path}.{key}", forbid)
    elif isinstance(schema, list):
        for index, value in enumerate(schema):
            errors += strict_schema_errors(value, f"{path}[{index}]", forbid)
    return errors


class OpenAIServer:
    def __init__(self) -> None:
        self.behaviour: Behaviour = in_their_format
        self.reject_bounds = False
        self.lock = threading.Lock()
        self.judge_requests = 0
        self.preflight_requests = 0
        self.rejected: list[str] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, name="openai-test-server", daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def start(self) -> OpenAIServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def reset(self, behaviour: Behaviour | None = None, reject_bounds: bool = False) -> None:
        with self.lock:
            self.behaviour = behaviour or in_their_format
            self.reject_bounds = reject_bounds
            self.judge_requests = self.preflight_requests = 0
            self.rejected = []

    def _answer(self, body: dict[str, Any]) -> Reply:
        schema = (body.get("response_format") or {}).get("json_schema")
        if schema is not None:
            name = str(schema.get("name", ""))
            errors = [] if SCHEMA_NAME.match(name) else [f"bad schema name {name!r}"]
            forbid = ("minimum", "maximum") if self.reject_bounds else ()
            errors += strict_schema_errors(schema.get("schema"), forbid=forbid)
            if errors:
                with self.lock:
                    self.rejected.append("; ".join(errors))
                error = {"message": "Invalid schema: " + "; ".join(errors), "type": "invalid_request_error"}
                return Reply(status=400, raw=json.dumps({"error": error}))
        last = str(body["messages"][-1].get("content"))
        with self.lock:
            if last == PREFLIGHT_PROMPT:
                self.preflight_requests += 1
                index = -1
            else:
                index = self.judge_requests
                self.judge_requests += 1
        reply = self.behaviour(index, body)
        if index == -1 and reply.status == 200:
            return Reply(content="OK")
        return reply

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                reply = server._answer(body)
                if reply.delay:
                    time.sleep(reply.delay)
                text = reply.raw if reply.raw is not None else json.dumps(_completion(body, reply))
                data = text.encode()
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout): fine
                    pass

        return Handler


def _completion(body: dict[str, Any], reply: Reply) -> dict[str, Any]:
    if reply.status != 200:
        return {"error": {"message": f"scripted {reply.status}", "type": "server_error"}}
    message = {"role": "assistant", "content": reply.content, "refusal": reply.refusal}
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "gpt-4o-mini"),
        "choices": [{"index": 0, "message": message, "finish_reason": reply.finish_reason, "logprobs": None}],
        "usage": {"prompt_tokens": 50, "completion_tokens": 12, "total_tokens": 62},
    }
