"""chatbot ingress."""
