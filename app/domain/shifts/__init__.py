"""Shifts (plantões): search, hospital details and reservation."""
