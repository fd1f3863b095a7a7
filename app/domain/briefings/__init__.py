"""The weekly manager briefing from Google Drive: parsed into directives for Julia."""
