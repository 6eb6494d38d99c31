"""The fuzzer's webhook target: the loopback receiver of the webhook tests."""

from tests.webhook.conftest import receiver, receiver_server  # noqa: F401
