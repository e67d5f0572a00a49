"""Action schemas and handlers, one module per area (the job actions still live in services)."""
