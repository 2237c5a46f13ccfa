# Flask is in the `bench` dependency group, which `make lint` does not install: without it the
# routes' decorators are untyped, and the import unresolved.
# mypy: disable-error-code="untyped-decorator"
"""The seed's design, kept as the baseline of `make bench SCENARIO=versus-seed` (never shipped).

One Flask process, run as its documentation said: ``python twilio_handler.py``, threaded, on
port 5000 (PORT overrides it, so the benchmark can pick a free one). Twilio's webhook handler
does everything inline, one thread per request:

1. checks the X-Twilio-Signature with the twilio SDK's RequestValidator (403 if wrong);
2. finds the user's OpenAI conversation id in a dict in this process's memory, or creates a
   conversation (``client.conversations.create``);
3. asks the model with the current APIs (``client.responses.create(conversation=...)``: the
   Assistants API with its threads and runs is gone);
4. sends the answer with the twilio SDK (``client.messages.create``);
5. and only then answers Twilio, with empty TwiML.

An error anywhere (the model's ``conversation_locked`` when a user's previous message is still
being answered, say) escapes as Flask's 500. Both SDKs read the same settings the services do:
OPENAI_API_KEY and OPENAI_BASE_URL; TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and, for the sandbox,
TWILIO_API_BASE_URL (the twilio SDK's ``client.api.base_url``).
"""

from __future__ import annotations

import os

from flask import Flask, Response, abort, request  # type: ignore[import-not-found, unused-ignore]
from openai import OpenAI
from twilio.request_validator import RequestValidator
from twilio.rest import Client

MODEL = os.environ.get("OPENAI_MODEL", "gpt-6.1-terra")
INSTRUCTIONS = "You are a helpful assistant answering customers on WhatsApp. Be brief."
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'

app = Flask(__name__)
openai = OpenAI()
twilio = Client(os.environ["TWILIO_ACCOUNT_SID"], os.environ["TWILIO_AUTH_TOKEN"])
if base_url := os.environ.get("TWILIO_API_BASE_URL"):
    twilio.api.base_url = base_url.rstrip("/")
validator = RequestValidator(os.environ["TWILIO_AUTH_TOKEN"])
conversations: dict[str, str] = {}
"""Each user's OpenAI conversation id, by WhatsApp address: lost when the process stops."""


@app.post("/twilio/messages")
def incoming_message() -> Response:
    signature = request.headers.get("X-Twilio-Signature", "")
    if not validator.validate(request.url, request.form, signature):
        abort(403)
    user = request.form["From"]
    if user not in conversations:
        conversations[user] = openai.conversations.create().id
    answer = openai.responses.create(
        model=MODEL,
        instructions=INSTRUCTIONS,
        input=request.form.get("Body", ""),
        conversation=conversations[user],
    )
    twilio.messages.create(from_=request.form["To"], to=user, body=answer.output_text)
    return Response(EMPTY_TWIML, mimetype="text/xml")


@app.get("/healthz")
def healthz() -> str:
    """For the benchmark, which starts this process and waits until it answers."""
    return "ok"


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(os.environ.get("PORT", "5000")), threaded=True)
