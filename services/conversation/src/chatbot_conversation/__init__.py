"""chatbot conversation."""
