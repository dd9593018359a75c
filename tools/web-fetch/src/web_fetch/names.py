"""The server's and its tools' names, as clients call them (no MCP SDK import: a client that
only needs the names, the platform's verify suite, loads this alone)."""

NAME = "web-fetch"
FETCH_TOOL = "web.fetch"
SEARCH_TOOL = "search.web"
