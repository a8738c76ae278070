"""batchport as a service: accounts and roles, import sessions kept in the database, a
background worker, the audit log, and the FastAPI application over them."""
