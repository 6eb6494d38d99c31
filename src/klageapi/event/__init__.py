"""Events: the transactional outbox every change writes to (the feed and webhooks read it)."""
