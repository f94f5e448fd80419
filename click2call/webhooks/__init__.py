"""Event webhooks to a CRM, in one package:

    events         which events a call-state change makes, and their payload (pure)
    outbox         stores them with the record change that caused them, one delivery per subscribed hook
    dispatcher     sends deliveries from the outbox: leases, order per call and hook, bounded concurrency
    retry          when to send again: backoff, Retry-After, 4xx, 410 (pure)
    signing        Standard Webhooks signatures, and verify() for receivers
    subscriptions  hooks and deliveries as the API sees them

Nothing is imported here, so that `signing` stays importable without the database.
"""
