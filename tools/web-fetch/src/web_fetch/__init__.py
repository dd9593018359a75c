"""web-fetch: an MCP stdio server with ``web.fetch`` (a page as clean text) and ``search.web``."""
