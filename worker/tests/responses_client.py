"""The official Python OpenAI SDK as a client of oachat's /v1/responses.

Usage: responses_client.py <base_url> <credential>

Prints one JSON object with what the SDK returned, for responses.test.mjs to assert on; a
call that raises is reported as {"error": {...}}.
"""

import json
import sys

import openai
from openai import OpenAI

TOOLS = [{"type": "function", "name": "get_weather", "description": "Weather in a city.",
          "parameters": {"type": "object",
                         "properties": {"query": {"type": "string", "examples": ["Paris"]}}}}]


def error_of(exception):
    if isinstance(exception, openai.APIStatusError):
        return {"class": type(exception).__name__, "status": exception.status_code,
                "code": (exception.body or {}).get("code") if isinstance(exception.body, dict) else None}
    return {"class": type(exception).__name__, "message": str(exception)}


def run(name, results, call):
    try:
        results[name] = call()
    except Exception as exception:  # reported, not raised: the test asserts on it
        results[name] = {"error": error_of(exception)}


def main():
    client = OpenAI(base_url=sys.argv[1], api_key=sys.argv[2], max_retries=0, timeout=30)
    results = {}
    user = "python responses 你好"

    def plain():
        response = client.responses.create(model="gpt-4o-mini", input=user, instructions="be brief")
        return {"id": response.id, "status": response.status, "text": response.output_text,
                "usage": response.usage.model_dump()}

    def streamed():
        text, types, completed = "", [], None
        for event in client.responses.create(model="gpt-4o-mini", input=user, stream=True):
            types.append(event.type)
            if event.type == "response.output_text.delta":
                text += event.delta
            if event.type == "response.completed":
                completed = event.response
        return {"text": text, "types": sorted(set(types)), "usage": completed.usage.model_dump(),
                "output_text": completed.output_text}

    def helper():
        with client.responses.stream(model="gpt-4o-mini", input=user) as stream:
            final = stream.get_final_response()
        return {"text": final.output_text, "status": final.status}

    def tools():
        # "required": the message names no tool, so the mock calls the first one.
        first = client.responses.create(model="gpt-4o-mini", input=user, tools=TOOLS,
                                        tool_choice="required")
        call = first.output[0]
        second = client.responses.create(
            model="gpt-4o-mini", tools=TOOLS, tool_choice="none",
            input=[{"role": "user", "content": user}, call.model_dump(exclude_none=True),
                   {"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}])
        return {"type": call.type, "name": call.name, "arguments": json.loads(call.arguments),
                "then": second.output_text}

    def chained():
        first = client.responses.create(model="gpt-4o-mini", input="remember: 42")
        second = client.responses.create(model="gpt-4o-mini", input="what was it?",
                                         previous_response_id=first.id)
        return {"first": first.id, "second": second.id, "text": second.output_text}

    def unsupported():
        client.responses.create(model="gpt-4o-mini", input=[{"role": "user", "content": [
            {"type": "input_image", "image_url": "https://example.com/a.png"}]}])

    for name, call in [("plain", plain), ("streamed", streamed), ("helper", helper),
                       ("tools", tools), ("chained", chained), ("unsupported", unsupported)]:
        run(name, results, call)
    print(json.dumps(results, ensure_ascii=False))


main()
