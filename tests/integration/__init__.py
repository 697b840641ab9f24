"""Integration tests: real processes (ngircd, the `logbot` command, PostgreSQL) on loopback."""
