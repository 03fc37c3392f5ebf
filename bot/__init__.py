"""Telegram bot that accompanies digital-government workshops."""
