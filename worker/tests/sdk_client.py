"""The official Python OpenAI SDK as a real client of oachat.

Usage: sdk_client.py <base_url> <credential>

Runs a fixed set of calls and prints one JSON object with what the SDK returned, for
sdk.test.mjs to assert on. A call that raises is reported as {"error": {...}} rather than
stopping the run, so an error case can be asserted like any other.
"""

import json
import sys

import openai
from openai import OpenAI

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "lookup_policy",
            "description": "Looks up an HR policy.",
            "parameters": {
                "type": "object",
                "properties": {"query": {"type": "string", "examples": ["年假"]}},
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "book_room",
            "parameters": {
                "type": "object",
                "properties": {"query": {"type": "string", "examples": ["年假"]}},
            },
        },
    },
]


def error_of(exception):
    if isinstance(exception, openai.APIStatusError):
        body = exception.body if isinstance(exception.body, dict) else {}
        return {
            "class": type(exception).__name__,
            "status": exception.status_code,
            "code": body.get("code") or (body.get("error") or {}).get("code"),
        }
    return {"class": type(exception).__name__, "message": str(exception)}


def run(name, call, results):
    try:
        results[name] = call()
    except Exception as exception:  # noqa: BLE001 - every failure is data for the test
        results[name] = {"error": error_of(exception)}


def main():
    base_url, credential = sys.argv[1], sys.argv[2]
    client = OpenAI(base_url=base_url, api_key=credential, max_retries=0, timeout=30)
    results = {"sdk_version": openai.__version__}
    user = {"role": "user", "content": "python sdk 你好"}

    def plain():
        completion = client.chat.completions.create(model="gpt-4o-mini", messages=[user])
        return {
            "content": completion.choices[0].message.content,
            "finish_reason": completion.choices[0].finish_reason,
            "usage": completion.usage.model_dump() if completion.usage else None,
        }

    def streamed():
        stream = client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[user],
            stream=True,
            stream_options={"include_usage": True},
        )
        text, chunks, usage, finish = "", 0, None, None
        for chunk in stream:
            chunks += 1
            if chunk.usage is not None:
                usage = chunk.usage.model_dump()
            for choice in chunk.choices:
                text += choice.delta.content or ""
                finish = choice.finish_reason or finish
        return {"content": text, "chunks": chunks, "usage": usage, "finish_reason": finish}

    def streamed_without_usage():
        stream = client.chat.completions.create(model="gpt-4o-mini", messages=[user], stream=True)
        chunks = list(stream)
        return {
            "chunks": len(chunks),
            "usage_seen": any(chunk.usage is not None for chunk in chunks),
            "content": "".join(c.delta.content or "" for chunk in chunks for c in chunk.choices),
        }

    def tools():
        completion = client.chat.completions.create(
            # "required": the message names no tool, so the mock calls the first one.
            model="gpt-4o-mini", messages=[user], tools=TOOLS, tool_choice="required"
        )
        call = completion.choices[0].message.tool_calls[0]
        return {
            "finish_reason": completion.choices[0].finish_reason,
            "name": call.function.name,
            "arguments": json.loads(call.function.arguments),
        }

    def tools_streamed():
        stream = client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[user],
            tools=TOOLS,
            # Names the second tool: the mock calls it only if `tool_choice` reached it untouched.
            tool_choice={"type": "function", "function": {"name": "book_room"}},
            stream=True,
        )
        name, arguments, finish = "", "", None
        for chunk in stream:
            for choice in chunk.choices:
                for call in choice.delta.tool_calls or []:
                    name += call.function.name or ""
                    arguments += call.function.arguments or ""
                finish = choice.finish_reason or finish
        return {"name": name, "arguments": json.loads(arguments), "finish_reason": finish}

    def two_choices():
        completion = client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[user],
            n=2,
            max_tokens=5,
            seed=7,
            user="python-sdk",
            response_format={"type": "text"},
            stop=["\n\n\n"],
            # Fields beyond the default allow-list reach the upstream when the tier allows them.
            extra_body={"x_vendor_option": {"keep": True}, "metadata": {"suite": "sdk"}},
        )
        return {
            "choices": [
                {"index": c.index, "finish_reason": c.finish_reason, "content": c.message.content}
                for c in completion.choices
            ],
            "completion_tokens": completion.usage.completion_tokens,
        }

    def cut_stream():
        # mock-openai's sk-mock-cut breaks the stream off: the SDK must raise, not return a
        # truncated answer as if it were whole.
        stream = client.chat.completions.create(model="cut-model", messages=[user], stream=True)
        return {"content": "".join(c.delta.content or "" for chunk in stream for c in chunk.choices)}

    def models():
        return sorted(model.id for model in client.models.list())

    run("plain", plain, results)
    run("streamed", streamed, results)
    run("streamed_without_usage", streamed_without_usage, results)
    run("tools", tools, results)
    run("tools_streamed", tools_streamed, results)
    run("two_choices", two_choices, results)
    run("cut_stream", cut_stream, results)
    run("models", models, results)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
