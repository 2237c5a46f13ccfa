"""chatbot sandbox: local stand-ins for Twilio's REST API and OpenAI's API (dev and tests only).

`chatbot_sandbox.app.create_app` builds the server, `chatbot_sandbox.main` runs it
(`chatbot-sandbox`), and `chatbot_sandbox.testing.running_sandbox` starts one inside a test's
event loop. Nothing is imported here, so importing a submodule stays cheap.
"""

__all__: list[str] = []
