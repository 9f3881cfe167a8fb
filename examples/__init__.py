"""Runnable examples of what a job queue is used for, each one a `tubeworks up` stack.

1. ``thumbnails``: images in a folder become thumbnails (Pillow); bad files end buried.
2. ``mailing``: thousands of personalised messages through a misbehaving SMTP server,
   by an autoscaled pool; every message arrives exactly once.
3. ``tracking``: events stored in SQLite (or MariaDB with a DSN) while the database
   connection is killed under the workers.
4. ``php_producer``: a PHP (Pheanstalk) producer feeding a Python worker pool.

Run them with ``tubeworks examples run [1 2 3 4]`` (see ``examples/README.md``).
"""
