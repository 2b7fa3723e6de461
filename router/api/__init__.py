"""The HTTP surface: one module per API family, plus the middleware every /v1 request passes."""
