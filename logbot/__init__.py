"""logbot: an IRC channel-logging bot with fast full-text search."""

__version__ = "0.1.0"
