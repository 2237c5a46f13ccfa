"""The fake Twilio: Messages, typing indicators, inbound media and status callbacks."""

__all__: list[str] = []
