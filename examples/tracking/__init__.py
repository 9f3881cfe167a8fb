"""Example 3: tracking events into a database that fails under the workers (see README.md)."""
