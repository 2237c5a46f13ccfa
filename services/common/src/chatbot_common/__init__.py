"""chatbot common."""
