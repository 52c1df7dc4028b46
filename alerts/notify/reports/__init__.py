"""The owners' reports (docs/reports.md): words, charts, documents (HTML page, PDF, message), signed links and
the schedule that sends them through the outbox.

- ``words``: every label in both languages, and number formats.
- ``charts``: the PNG charts (matplotlib, Agg backend, a CJK font found by family name).
- ``documents``: a report's page (HTML with its charts inline), its printable PDF and its message.
- ``links``: the signed read-only page links (HMAC-SHA256 over what the page shows and its expiry).
- ``publish``: which reports are due (pure) and the outbox items for the buildings' owner groups.
"""
