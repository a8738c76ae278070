"""The API's routes, a router per resource: sessions (upload, validate, commit), history
(jobs, batches), rollback, accounts (and the audit log)."""
