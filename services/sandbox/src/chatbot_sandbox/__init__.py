"""Local stand-ins for OpenAI and Twilio, and the chat page and terminal (dev and tests only)."""
