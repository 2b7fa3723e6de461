"""`freerouter demo`: the real router over simulated free backends, which are real loopback HTTP
servers (the same fake upstream the tests use) with different latencies, failure rates and
capabilities, one of them flaky. No keys, no network."""
