"""Owns conversations and messages: persistence, sequence numbers, status, assignment."""
