"""The fake Twilio: Messages, typing indicators, inbound media and status callbacks."""
