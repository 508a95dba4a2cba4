"""Development tools (local Functions host, emulators, demo servers); never published (see .funcignore)."""
