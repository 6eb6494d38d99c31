"""Appeals: registration, reading, and (later) their lifecycle."""
