"""The operator web console: its page, static assets and the read models behind its views."""
