"""freerouter: route OpenAI- and Anthropic-API requests for `free` across free LLM backends."""

__version__ = "0.1.0"
