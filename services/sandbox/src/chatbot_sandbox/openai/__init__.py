"""The fake OpenAI: Conversations, Responses, Chat Completions, transcriptions and models."""
