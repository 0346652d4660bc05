"""The agents' web app: sign-in, inbox, conversations, contacts, settings."""
