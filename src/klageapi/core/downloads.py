"""The headers every download of a client's file carries."""

from __future__ import annotations

__all__ = ["DOWNLOAD_HEADERS"]

# A file is served as the media type it was checked to be, never as what a browser guesses from
# its bytes (nosniff), and a browser that opens it runs and loads nothing (a PDF's scripts, an
# HTML page declared as an image): an empty policy in a sandbox.
DOWNLOAD_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
}
