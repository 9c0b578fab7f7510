"""Collectors: turn what a source gives into RawMention records on mentions.raw."""
