"""`make bench-ingress`: signed webhooks per second through ingress, beside a bare endpoint.

Both servers run as one uvicorn worker each (the same way), and one wrk thread drives each in
turn with the same pre-signed requests: every request carries a fresh MessageSid and a valid
X-Twilio-Signature, so ingress does its whole job (parse, verify, publish to JetStream and wait
for the PubAck) for each one. The report goes to bench/reports/ingress.json.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import uuid
from pathlib import Path

import httpx
import nats
from twilio.request_validator import RequestValidator

from chatbot_sandbox.stack import find_executable, free_port
from harness import nats_server, process, write_report, wrk

TOKEN = "bench-auth-token"
ROUTE = "/twilio/messages"


def signed_requests(base_url: str, count: int) -> list[tuple[str, str]]:
    validator = RequestValidator(TOKEN)
    requests = []
    for index in range(count):
        form = {
            "MessageSid": "SM" + uuid.uuid4().hex,
            "AccountSid": "AC" + "0" * 32,
            "From": f"whatsapp:+1555{index % 1000:07d}",
            "To": "whatsapp:+14155238886",
            "Body": "What are your opening hours on Sunday?",
            "ProfileName": "Bench",
            "WaId": f"1555{index % 1000:07d}",
            "NumMedia": "0",
            "SmsStatus": "received",
            "NumSegments": "1",
            "ApiVersion": "2010-04-01",
        }
        body = httpx.QueryParams(form).__str__()
        requests.append((body, validator.compute_signature(base_url + ROUTE, form)))
    return requests


def lua_script(requests: list[tuple[str, str]], folder: Path) -> Path:
    """A wrk script that cycles through the pre-signed requests (read from a data file)."""
    data = folder / "requests.tsv"
    data.write_text("".join(f"{body}\t{signature}\n" for body, signature in requests))
    script = folder / "requests.lua"
    script.write_text(
        "local requests = {}\n"
        f'for line in io.lines("{data}") do\n'
        '  local body, signature = line:match("^(.-)\\t(.*)$")\n'
        "  requests[#requests + 1] = {body, signature}\n"
        "end\n"
        "local i = 0\n"
        "request = function()\n"
        "  i = i % #requests + 1\n"
        "  local r = requests[i]\n"
        '  return wrk.format("POST", "' + ROUTE + '", {["Content-Type"] = '
        '"application/x-www-form-urlencoded", ["X-Twilio-Signature"] = r[2]}, r[1])\n'
        "end\n"
    )
    return script


async def stream_count(nats_url: str) -> int:
    client = await nats.connect(nats_url)
    try:
        return int((await client.jetstream().stream_info("CHAT_INBOUND")).state.messages)
    finally:
        await client.close()


def uvicorn_argv(target: str, port: int) -> list[str]:
    return [
        find_executable("uvicorn"), target, "--host", "127.0.0.1", "--port", str(port),
        "--workers", "1", "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10, help="measured seconds per server")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections")
    parser.add_argument("--requests", type=int, default=80_000, help="distinct signed requests")
    args = parser.parse_args()

    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-ingress-") as tmp, nats_server() as nats_url:
        bare_port, ingress_port = free_port(), free_port()
        base = f"http://127.0.0.1:{ingress_port}"
        print(f"signing {args.requests} webhooks...", flush=True)
        script = lua_script(signed_requests(base, args.requests), Path(tmp))

        bare_url = f"http://127.0.0.1:{bare_port}"
        with process(
            "bare",
            uvicorn_argv("bare_app:app", bare_port),
            {"PYTHONPATH": str(Path(__file__).parent)},
            ready_url=f"{bare_url}/docs",
        ):
            wrk(bare_url + ROUTE, script, connections=args.connections, seconds=2)  # warm-up
            results["bare_fastapi"] = wrk(
                bare_url + ROUTE, script, connections=args.connections, seconds=args.seconds
            )

        env = {
            "NATS_URL": nats_url,
            "USER_KEY_SECRET": "bench-secret",
            "TWILIO_AUTH_TOKEN": TOKEN,
            "PUBLIC_BASE_URL": base,
            "HOST": "127.0.0.1",
            "PORT": str(ingress_port),
            "LOG_LEVEL": "WARNING",
        }
        with process("ingress", [find_executable("chatbot-ingress")], env, f"{base}/readyz"):
            wrk(base + ROUTE, script, connections=args.connections, seconds=2)  # warm-up
            results["ingress"] = wrk(
                base + ROUTE, script, connections=args.connections, seconds=args.seconds
            )
            metrics = httpx.get(f"{base}/metrics").text
        published = asyncio.run(stream_count(nats_url))

    ingress, bare = results["ingress"], results["bare_fastapi"]
    ratio = ingress["requests_per_second"] / bare["requests_per_second"]
    duplicates = sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("chatbot_webhook_duplicates_total{")
    )
    report = {
        "connections": args.connections,
        "seconds": args.seconds,
        "results": results,
        "ingress_to_bare_ratio": round(ratio, 3),
        "stream_messages": published,
        "duplicates_dropped": duplicates,
        "targets": {"ingress_rps": 2000, "ingress_p99_ms": 50, "ratio": 0.5},
    }
    path = write_report("ingress", report)
    for name, result in results.items():
        print(
            f"{name:>13}: {result['requests_per_second']:8.0f} req/s  p50 {result['p50_ms']} ms"
            f"  p90 {result['p90_ms']} ms  p99 {result['p99_ms']} ms  non-2xx {result['non_2xx']}"
        )
    print(f"ratio ingress/bare: {ratio:.2f}; messages in CHAT_INBOUND: {published}")
    print(f"report: {path}")
    met = (
        ingress["requests_per_second"] >= 2000
        and (ingress["p99_ms"] or 1e9) < 50
        and ratio >= 0.5
        and ingress["non_2xx"] == 0
    )
    print("targets met" if met else "TARGETS NOT MET")
    sys.exit(0 if met else 1)


if __name__ == "__main__":
    main()
