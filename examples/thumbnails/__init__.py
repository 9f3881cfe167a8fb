"""Example 1: image uploads, detached (see README.md)."""
