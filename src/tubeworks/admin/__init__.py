"""The admin commands of ``tubeworks`` (``tubes``, ``stats``, ``put``, ``peek``, ``kick``,
``delete``, ``pause``, ``clear``, ``move``, ``export``, ``import``, ``top``) for any beanstalk
server. ``render`` holds the pure formatting, ``common`` the shared options and error handling,
and the command modules hold thin click wrappers over :mod:`tubeworks.client`.

Exit codes (every command): 0 ok; 1 the server refused or found nothing (e.g. NOT_FOUND);
2 bad usage or input; 3 the server cannot be reached or dropped the connection; 4 the server sent
something that is not beanstalk; 130 interrupted by Ctrl-C (after finishing the batch in flight).
"""
