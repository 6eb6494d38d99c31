"""Cross-cutting parts every domain uses: settings, database, auth, errors, clock."""
