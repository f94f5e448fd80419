"""The HTTP API (Starlette). Named click2call.http, never a top-level `http` that would shadow the stdlib."""
