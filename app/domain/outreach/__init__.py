"""Proactive contact: follow-ups and reminders."""
