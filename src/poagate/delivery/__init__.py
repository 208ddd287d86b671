"""Delivery of forwarded AD1s to the DNOs' webhooks, from the transactional outbox."""
