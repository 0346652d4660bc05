"""The mail service: emails a visitor the answers they missed, takes their replies by email."""
