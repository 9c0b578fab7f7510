"""Moderator tools: `veille moderate` (list, decide, serve) and `veille moderation report`, over Kafka."""
