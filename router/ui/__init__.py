"""The web console (GET /ui/): one page, one stylesheet, one script, served by the router itself
(no build step, no external asset); its data comes from /status, /status/requests, /v1/models and
/v1/chat/completions, with the client key the operator types."""
