"""The baseline of `make bench-ingress`: a bare FastAPI endpoint that answers the same TwiML.

No signature check, no parsing, no publish: what ingress costs is measured against this.
"""

from __future__ import annotations

from fastapi import FastAPI, Response

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'

app = FastAPI()


@app.post("/twilio/messages")
async def twilio_messages() -> Response:
    return Response(EMPTY_TWIML, media_type="text/xml")
