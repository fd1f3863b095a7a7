"""Reservations: the team confirms or releases what Julia reserved; the doctor hears it."""
