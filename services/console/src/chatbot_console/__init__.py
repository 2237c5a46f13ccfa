"""The operators' console (docs/console.md)."""
