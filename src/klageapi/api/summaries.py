"""Each operation's summary and each tag's description in the contract, as English reads
(FastAPI's default title-cases the function's name: "Start Nav Review"). A test keeps the
summaries and the app's operations equal."""

from __future__ import annotations

__all__ = ["SERVERS", "SUMMARIES", "TAGS"]

SUMMARIES: dict[str, str] = {
    "healthz": "Liveness",
    "readyz": "Readiness: database reachable and schema at head",
    "metrics": "Prometheus metrics",
    "register_appeal": "Register an appeal",
    "list_appeals": "List the appeals you may see",
    "get_appeal": "Read an appeal",
    "get_appeal_history": "Read an appeal's history and time in each state",
    "start_nav_review": "Start NAV's preparatory review",
    "record_nav_outcome": "Record NAV's outcome of its review",
    "withdraw_appeal": "Withdraw an appeal",
    "add_preliminary_reply": "Record a preliminary reply",
    "start_statsforvalter_review": "Start the Statsforvalter's review",
    "decide_appeal": "Record the Statsforvalter's decision",
    "get_appeal_deadline": "Compute the appeal deadline for a notification date",
    "list_nav_offices": "List NAV offices",
    "get_nav_office": "Read a NAV office",
    "put_nav_office": "Create or replace a NAV office",
    "list_statsforvalter_offices": "List Statsforvalter offices",
    "get_statsforvalter_office": "Read a Statsforvalter office",
    "put_statsforvalter_office": "Create or replace a Statsforvalter office",
    "list_county_routes": "List the county routing",
    "put_county_route": "Route a county to a Statsforvalter office",
    "list_audit_log": "Read the audit log",
    "upload_document": "Upload a document to an appeal",
    "list_documents": "List an appeal's documents",
    "get_document_content": "Download a document",
    "forward_appeal": "Forward an appeal as a case package",
    "list_packages": "Pull the feed of case packages",
    "get_package": "Read a case package's manifest",
    "get_package_bundle": "Download a case package as one ZIP",
    "acknowledge_package": "Acknowledge receipt of a case package",
    "reject_package": "Reject a case package",
    "request_documentation": "Ask NAV for more documentation",
    "list_documentation_requests": "List an appeal's documentation requests",
    "fulfil_documentation_request": "Answer a documentation request",
    "list_events": "Page through the event feed",
    "create_webhook_subscription": "Subscribe a URL to events",
    "list_webhook_subscriptions": "List your webhook subscriptions",
    "list_failing_webhook_subscriptions": "List failing or disabled webhook subscriptions",
    "get_webhook_subscription": "Read a webhook subscription",
    "update_webhook_subscription": "Change a webhook subscription",
    "delete_webhook_subscription": "Delete a webhook subscription",
    "rotate_webhook_secret": "Rotate a webhook subscription's secret",
    "list_webhook_deliveries": "List a subscription's deliveries",
    "redeliver_webhook_delivery": "Send a delivery again",
    "replay_webhook_events": "Queue a window's events again",
    "list_my_appeals": "List your own appeals (citizen)",
    "get_my_appeal": "Read one of your own appeals (citizen)",
    "comment_on_my_appeal": "Comment on the case presentation (citizen)",
    "send_my_documentation": "Send documentation asked for (citizen)",
    "send_my_documents": "Send more documents unasked (citizen)",
    "withdraw_my_appeal": "Withdraw your appeal (citizen)",
    "list_my_documents": "List the documents of your appeal you may read (citizen)",
    "get_my_document_content": "Download a document of your appeal (citizen)",
    "get_processing_times": "Read processing times, backlog and queue health",
    "get_statistics_report": "Read the waiting-time report as an HTML page",
}

TAGS: list[dict[str, str]] = [
    {
        "name": "appeals",
        "description": "Register appeals, read them, and take the lifecycle's"
        " steps (NAV's and the Statsforvalter's); the appeal deadline.",
    },
    {
        "name": "documents",
        "description": "Stream documents in and out, content-addressed and"
        " checked against their sha256.",
    },
    {
        "name": "packages",
        "description": "Forward appeals as frozen case packages; the"
        " Statsforvalter's pull feed, archive-ready bundles, receipts and rejections;"
        " documentation requests.",
    },
    {
        "name": "events",
        "description": "The event feed: every event the caller may see, in an"
        " order a cursor can follow without missing one.",
    },
    {
        "name": "webhooks",
        "description": "Signed webhook deliveries (Standard Webhooks) of the"
        " same events, with their log, redelivery and replay.",
    },
    {
        "name": "citizen",
        "description": "The citizen's own appeals in plain language (nb, nn,"
        " en), with an ID-porten token.",
    },
    {
        "name": "statistics",
        "description": "Where the waiting happens: processing times, the"
        " open backlog and each office's queue.",
    },
    {
        "name": "registry",
        "description": "NAV offices, Statsforvalter offices and the county"
        " routing (administrators).",
    },
    {
        "name": "audit",
        "description": "Who read or changed which appeal's personal data (administrators).",
    },
    {"name": "operations", "description": "Liveness, readiness and metrics, for operators."},
]

# Relative: the service that serves the document (a fixed host would send /docs' "Try it out"
# elsewhere in production).
SERVERS: list[dict[str, str]] = [
    {
        "url": "/",
        "description": "The service serving this document (`klageapi serve` listens on"
        " http://127.0.0.1:8000 by default)",
    },
]
