"""The HTTP API's routers, one module each; api/app.py includes them, the busiest first."""
