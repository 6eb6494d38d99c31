"""An example of every JSON request body in the contract, named, as a case system would send it.
tests/test_openapi.py checks each against the operation's schema and that no body lacks one.
The national id is a synthetic one (valid check digits, nobody's)."""

from __future__ import annotations

from typing import Any

__all__ = ["REQUEST_EXAMPLES"]

_OCCURRED_AT = {
    "summary": "Reported later: when it really happened",
    "value": {"occurred_at": "2026-10-20T09:30:00+02:00"},
}

REQUEST_EXAMPLES: dict[str, dict[str, dict[str, Any]]] = {
    "register_appeal": {
        "digital": {
            "summary": "An appeal received digitally by NAV Stavanger",
            "value": {
                "nav_office_unit_number": "1103",
                "municipality_number": "1103",
                "national_id": "15076500565",
                "decision": {
                    "reference": "VEDTAK-2026-0042",
                    "decided_on": "2026-10-01",
                    "notified_on": "2026-10-02",
                    "legal_basis": "economic_assistance",
                },
                "received_on": "2026-10-15",
                "channel": "digital",
                "grounds": "Jeg mener vedtaket er feil.",
                "external_reference": "SAK-2026-000123",
            },
        }
    },
    "start_nav_review": {"now": {"summary": "Now", "value": {}}, "later": _OCCURRED_AT},
    "withdraw_appeal": {"now": {"summary": "Now", "value": {}}, "later": _OCCURRED_AT},
    "start_statsforvalter_review": {
        "now": {"summary": "Now", "value": {}},
        "later": _OCCURRED_AT,
    },
    "record_nav_outcome": {
        "upheld": {
            "summary": "NAV keeps its decision: forwarded next",
            "value": {
                "outcome": "upheld",
                "decided_on": "2026-11-20",
                "reasoning": "Vilkårene er ikke oppfylt.",
            },
        }
    },
    "add_preliminary_reply": {
        "reply": {
            "summary": "A preliminary reply with the expected decision date",
            "value": {"expected_decision_on": "2027-02-15"},
        }
    },
    "decide_appeal": {
        "upheld": {
            "summary": "The Statsforvalter upholds the decision",
            "value": {
                "outcome": "upheld",
                "decided_on": "2027-01-10",
                "document_id": "0b6f3c1e-5d2a-4f7e-9a41-2c8d7e6f5a10",
            },
        }
    },
    "put_nav_office": {
        "office": {
            "summary": "NAV Stavanger, serving its municipality",
            "value": {
                "name": "NAV Stavanger",
                "organisation_number": "977777771",
                "municipality_numbers": ["1103"],
            },
        }
    },
    "put_statsforvalter_office": {
        "office": {
            "summary": "An office that STAF acts for",
            "value": {
                "name": "Statsforvalteren i Rogaland",
                "organisation_number": "922222223",
                "agent_organisation_numbers": ["974761076"],
            },
        }
    },
    "put_county_route": {
        "route": {"summary": "Rogaland", "value": {"statsforvalter_office_id": "sf-rogaland"}}
    },
    "forward_appeal": {
        "plain": {"summary": "No answers on the form", "value": {}},
        "urgent": {
            "summary": "Urgent: the citizen faces eviction",
            "value": {
                "urgent": True,
                "urgent_reason": "eviction",
                "case_presentation_sent_on": "2026-11-21",
                "comment_deadline_on": "2026-12-05",
                "children_affected": True,
                "children_needs_assessed": True,
            },
        },
    },
    "acknowledge_package": {
        "receipt": {
            "summary": "Registered under the Statsforvalter's case number",
            "value": {"statsforvalter_case_number": "2026/1234"},
        }
    },
    "reject_package": {
        "not_ours": {
            "summary": "Not ours: re-route to another office",
            "value": {"reason": "not_ours", "statsforvalter_office_id": "sf-vestland"},
        },
        "incomplete": {
            "summary": "Incomplete: back to NAV",
            "value": {"reason": "incomplete", "description": "Saksfremlegget mangler."},
        },
    },
    "request_documentation": {
        "bank_statements": {
            "summary": "Ask NAV for bank statements",
            "value": {
                "description": "Kontoutskrifter for mars",
                "categories": ["supporting_document"],
                "due_on": "2026-12-15",
            },
        }
    },
    "fulfil_documentation_request": {
        "answer": {
            "summary": "The documents uploaded since the request",
            "value": {"document_ids": ["7d1e2f30-4a5b-4c6d-8e9f-0a1b2c3d4e5f"]},
        }
    },
    "comment_on_my_appeal": {
        "comment": {
            "summary": "The citizen's comment on the case presentation",
            "value": {"text": "Jeg er uenig i at utgiftene til strøm ikke er nødvendige."},
        }
    },
    "create_webhook_subscription": {
        "status": {
            "summary": "Status changes and new packages",
            "value": {
                "url": "https://saksbehandling.example.no/klageapi",
                "event_types": ["appeal.status_changed", "package.forwarded"],
                "description": "Saksbehandlingssystemet",
            },
        }
    },
    "update_webhook_subscription": {
        "resume": {"summary": "Switch it on again", "value": {"enabled": True}},
        "types": {
            "summary": "Listen to other events",
            "value": {"event_types": ["appeal.decided", "documentation.requested"]},
        },
    },
    "replay_webhook_events": {
        "day": {
            "summary": "Send one day's events again",
            "value": {"since": "2026-11-20T00:00:00Z", "until": "2026-11-21T00:00:00Z"},
        }
    },
}
