"""The chat UI: a WhatsApp-like page and ``make chat``, both clients of the chat hub."""
