"""Example 4: a PHP producer feeding a Python worker pool (see README.md)."""
