"""Example 2: an autoscaled mailing through a misbehaving SMTP server (see README.md)."""
