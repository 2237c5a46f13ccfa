"""chatbot sender."""
