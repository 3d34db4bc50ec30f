"""Rasa channel for WhatsApp through Chattigo."""
