"""The admin commands of ``tubeworks`` (``tubes``, ``stats``, ``put``, ``peek``, ``kick``,
``delete``, ``pause``, ``clear``, ``move``, ``export``, ``import``, ``top``) for any beanstalk
server. ``render`` holds the pure formatting, ``common`` the shared options and error handling,
and the command modules hold thin click wrappers over :mod:`tubeworks.client`.

Exit codes (every command): 0 ok; 1 the server refused or found nothing (e.g. NOT_FOUND,
UNAUTHORIZED, FORBIDDEN); 2 bad usage or input (also an unreadable certificate file); 3 the server
cannot be reached, the TLS handshake failed, or the server dropped the connection; 4 the server
sent something that is not beanstalk; 130 interrupted by Ctrl-C (after finishing the batch in
flight). Every command also takes the TLS and token options (``common.security_options``;
docs/client.md).
"""
