"""Thin Faust agents: they move records between topics and call the pure logic in veille/."""
