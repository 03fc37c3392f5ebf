"""Conversation logic. Flows return events; they never import telegram."""
