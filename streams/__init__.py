"""The stream contract: records on the topics, and the topics themselves."""
